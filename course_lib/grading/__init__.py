"""Checkers for the graded notebooks: partial credit and a readable reason.

Students call them to check their own work (``check(dense_forward)``); the
hidden tests of each notebook are single calls to them, so a failing hidden
test shows the reason, never the test. Which module grades which notebook is
written down once, in :mod:`course_lib.grading.registry`.
"""
from course_lib.grading.assignment1 import (
    check_dense_backward,
    check_dense_forward,
    check_relu_backward,
    check_relu_forward,
    check_sgd_step,
    check_softmax_cross_entropy,
    check_train_mlp,
)
from course_lib.grading.assignment2 import (
    check_gradient_descent,
    check_learning_rate_sweep,
    check_numerical_gradient,
    check_two_layer_backward,
)
from course_lib.grading.assignment3 import (
    check_count_params,
    check_dense_output_shape,
    check_layer_summary,
    check_mlp_probabilities,
)
from course_lib.grading.assignment4 import (
    check_build_model,
    check_split_halves,
    check_train_model,
)
from course_lib.grading.assignment5 import (
    check_conv2d_backward,
    check_conv2d_forward,
    check_conv2d_forward_naive,
    check_conv_output_length,
    check_max_pool2d_backward,
    check_max_pool2d_forward,
)
from course_lib.grading.assignment6 import (
    check_block_output_shapes,
    check_build_vgg,
    check_conv_params,
    check_dense_params,
    check_vgg_param_count,
)
from course_lib.grading.assignment7 import (
    check_gru_step_forward,
    check_lstm_step_backward,
    check_lstm_step_forward,
    check_rnn_backward,
    check_rnn_forward,
    check_rnn_step_backward,
    check_rnn_step_forward,
    check_train_bidirectional,
)
from course_lib.grading.assignment8 import (
    check_affine_matrix,
    check_apply_affine_nearest,
    check_directory_batches,
    check_flip_horizontal,
    check_rescale,
)
from course_lib.grading.assignment9 import (
    check_assign_clusters,
    check_best_split,
    check_entropy,
    check_fit_logistic_gd,
    check_inertia,
    check_information_gain,
    check_kmeans,
    check_logistic_loss_and_gradient,
    check_q_learning,
    check_q_update,
    check_update_centers,
)
from course_lib.grading.assignment10 import (
    check_discriminator_loss,
    check_generator_loss,
    check_merge_heads,
    check_multi_head_attention,
    check_scaled_dot_product_attention,
    check_scaled_dot_product_attention_backward,
    check_split_heads,
)
from course_lib.grading.registry import check

__all__ = [
    "check",
    "check_dense_forward",
    "check_dense_backward",
    "check_relu_forward",
    "check_relu_backward",
    "check_softmax_cross_entropy",
    "check_sgd_step",
    "check_train_mlp",
    "check_numerical_gradient",
    "check_two_layer_backward",
    "check_gradient_descent",
    "check_learning_rate_sweep",
    "check_dense_output_shape",
    "check_count_params",
    "check_layer_summary",
    "check_mlp_probabilities",
    "check_split_halves",
    "check_build_model",
    "check_train_model",
    "check_conv2d_backward",
    "check_conv2d_forward",
    "check_conv2d_forward_naive",
    "check_conv_output_length",
    "check_max_pool2d_backward",
    "check_max_pool2d_forward",
    "check_block_output_shapes",
    "check_build_vgg",
    "check_conv_params",
    "check_dense_params",
    "check_vgg_param_count",
    "check_rnn_step_forward",
    "check_rnn_step_backward",
    "check_lstm_step_forward",
    "check_lstm_step_backward",
    "check_gru_step_forward",
    "check_rnn_forward",
    "check_rnn_backward",
    "check_train_bidirectional",
    "check_affine_matrix",
    "check_apply_affine_nearest",
    "check_flip_horizontal",
    "check_rescale",
    "check_directory_batches",
    "check_assign_clusters",
    "check_update_centers",
    "check_inertia",
    "check_kmeans",
    "check_logistic_loss_and_gradient",
    "check_fit_logistic_gd",
    "check_entropy",
    "check_information_gain",
    "check_best_split",
    "check_q_update",
    "check_q_learning",
    "check_scaled_dot_product_attention",
    "check_scaled_dot_product_attention_backward",
    "check_split_heads",
    "check_merge_heads",
    "check_multi_head_attention",
    "check_discriminator_loss",
    "check_generator_loss",
]
