"""``keras.applications.resnet50``: ResNet50 with its "caffe" preprocessing and decoding, as Keras re-exports them.

See :mod:`course_lib.applications.resnet` for the network.
"""
from course_lib.applications.resnet import ResNet50, decode_predictions, preprocess_input

__all__ = ["ResNet50", "decode_predictions", "preprocess_input"]
