"""ConvNeXt (Liu et al., 2022, "A ConvNet for the 2020s") with Keras's layer names, weights and parameter counts.

A ConvNet modernised after the vision Transformers. The input goes through a
``Normalization`` with ImageNet's means and variances of pixels in 0 ... 255
(``include_preprocessing=True``: the model takes raw pixels), then four stages:

- a downsampling Sequential before each stage: the *stem* (a 4x4 convolution of
  stride 4, "patchify", then a LayerNormalization) before the first, a
  LayerNormalization then a 2x2 convolution of stride 2 before the others;
- ``depths[i]`` ConvNeXt blocks of ``projection_dims[i]`` channels. A block is a
  7x7 depthwise convolution (``Conv2D`` with ``groups`` equal to the channels),
  a LayerNormalization (epsilon 1e-6), an inverted bottleneck of two Dense
  layers on the channel axis (4x wider, GELU between them: Keras's
  "pointwise_conv"), a :class:`LayerScale` (a learned per-channel factor that
  starts at 1e-6) and the residual sum with the block's input. Keras keeps a
  :class:`StochasticDepth` slot in the residual branch; its drop rate is 0 in
  every published variant, so the slot is an ``Activation("linear")``
  (``..._identity``). The residual sum is written ``inputs + x``, as in
  Keras: a ``keras.ops`` operation (``add``, ``add_1`` ...), in
  ``model.operations`` and the summary but not in ``model.layers``.

The top: global average pooling, a LayerNormalization and the Dense classifier
(``..._head_gap``, ``..._head_layernorm``, ``..._head_dense``). Without the top,
the optional global pooling is followed by a LayerNormalization, as in Keras.

Parameters with the top at 224x224x3 (every variant takes any input of at
least 32x32): Tiny 28,589,128; Small 50,223,688; Base 88,591,464; Large
197,767,336; XLarge 350,196,968. Stages of 3, 3, 9, 3 blocks (Tiny) or 3, 3,
27, 3 (the others); channels 96 ... 768 (Tiny, Small), 128 ... 1024 (Base),
192 ... 1536 (Large), 256 ... 2048 (XLarge).

course_lib downloads nothing: ``weights="imagenet"`` loads Keras's published
file (``convnext_tiny.h5``, ``convnext_tiny_notop.h5`` ...) from Keras's cache
folder when it is there, and otherwise says where to put it.
"""
from __future__ import annotations

import itertools

from course_lib import backend, config, initializers, layers
from course_lib.applications import imagenet_utils
from course_lib.layers.base import Layer
from course_lib.models import Model, Sequential

MODEL_CONFIGS = {
    "tiny": {"depths": [3, 3, 9, 3], "projection_dims": [96, 192, 384, 768], "default_size": 224},
    "small": {"depths": [3, 3, 27, 3], "projection_dims": [96, 192, 384, 768], "default_size": 224},
    "base": {"depths": [3, 3, 27, 3], "projection_dims": [128, 256, 512, 1024], "default_size": 224},
    "large": {"depths": [3, 3, 27, 3], "projection_dims": [192, 384, 768, 1536], "default_size": 224},
    "xlarge": {"depths": [3, 3, 27, 3], "projection_dims": [256, 512, 1024, 2048], "default_size": 224},
}
"""Keras's ``MODEL_CONFIGS``: blocks per stage, channels per stage and default size of each variant."""
IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_VARIANCE = ((0.229 * 255) ** 2, (0.224 * 255) ** 2, (0.225 * 255) ** 2)
"""The statistics of the input Normalization (ImageNet's, for pixels in 0 ... 255)."""
_block_uids = itertools.count(1)


class StochasticDepth(Layer):
    """Drops the whole residual branch of some samples while training (Keras's ConvNeXt ``StochasticDepth``).

    While training, each sample of the batch keeps its input, scaled by
    ``1 / (1 - drop_path_rate)``, with probability ``1 - drop_path_rate``, and
    is zeroed otherwise (one draw per sample, ``floor(keep + uniform)`` as in
    Keras, so the expectation is unchanged); at inference it is the identity.
    Backward: the same per-sample factor.

    Args:
        drop_path_rate: float in [0, 1), the probability of dropping a sample's path.

    Input shape: any, batch first. Output shape: the same.
    """

    _keras_module = "keras.src.applications.convnext"  # written in configs, read back without custom_objects

    def __init__(self, drop_path_rate, **kwargs):
        if isinstance(drop_path_rate, bool) or not isinstance(drop_path_rate, (int, float)) \
                or not 0 <= drop_path_rate < 1:
            raise ValueError(
                "StochasticDepth: drop_path_rate must be a float in [0, 1). "
                f"Received: drop_path_rate={drop_path_rate!r}"
            )
        super().__init__(**kwargs)
        self.drop_path_rate = drop_path_rate

    def forward(self, inputs, training=False):
        if not training:
            return inputs, None
        dtype = inputs.dtype.type
        keep = dtype(1 - self.drop_path_rate)
        shape = (inputs.shape[0],) + (1,) * (inputs.ndim - 1)
        factor = backend.xp.floor(keep + backend.random_uniform(shape).astype(inputs.dtype)) / keep
        return inputs * factor, factor

    def backward(self, output_grads, factor):
        return (output_grads if factor is None else output_grads * factor), {}

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "drop_path_rate": self.drop_path_rate}


class LayerScale(Layer):
    """Multiplies each channel by a learned factor ``gamma`` (Keras's ConvNeXt ``LayerScale``, CaiT's).

    ``y = x * gamma`` with ``gamma`` of shape ``(projection_dim,)``, broadcast on
    the last axis, initialised to ``init_values``. Backward:
    ``dx = dy * gamma``, ``dgamma = sum of dy * x`` over every axis but the last.

    Args:
        init_values: float, the starting value of every factor (1e-6 in ConvNeXt).
        projection_dim: int, the number of channels (the size of the last axis).

    Input shape: ``(..., projection_dim)``. Output shape: the same.
    """

    _keras_module = "keras.src.applications.convnext"  # written in configs, read back without custom_objects

    def __init__(self, init_values, projection_dim, **kwargs):
        if isinstance(projection_dim, bool) or not isinstance(projection_dim, int) or projection_dim <= 0:
            raise ValueError(
                f"LayerScale: projection_dim must be a positive int. Received: projection_dim={projection_dim!r}"
            )
        super().__init__(**kwargs)
        self.init_values = init_values
        self.projection_dim = projection_dim

    def build(self, input_shape):
        channels = tuple(input_shape)[-1]
        if channels is not None and channels != self.projection_dim:
            raise ValueError(
                f"LayerScale '{self.name}': the last axis of the input must have projection_dim="
                f"{self.projection_dim} entries. Received: input_shape={tuple(input_shape)}"
            )
        # Keras's add_weight has no name here, so its variable is called "variable".
        self.gamma = self.add_weight("variable", (self.projection_dim,),
                                     initializers.Constant(self.init_values))
        self.built = True

    def forward(self, inputs, training=False):
        return inputs * self.gamma.value, inputs

    def backward(self, output_grads, inputs):
        gamma = self.gamma.value
        dgamma = (output_grads * inputs).reshape(-1, gamma.shape[0]).sum(axis=0)
        return output_grads * gamma, {"variable": dgamma}

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "init_values": self.init_values, "projection_dim": self.projection_dim}


def ConvNeXtBlock(projection_dim, drop_path_rate=0.0, layer_scale_init_value=1e-6, name=None):
    """One ConvNeXt block as a function of a symbolic tensor, with Keras's layer names (``{name}_...``).

    Depthwise 7x7 convolution, LayerNormalization (1e-6), Dense ``4 * projection_dim``, GELU, Dense
    ``projection_dim``, LayerScale (unless ``layer_scale_init_value`` is None), then StochasticDepth
    (``drop_path_rate`` > 0) or a linear Activation, added to the block's input.
    """
    if name is None:
        name = f"prestem{next(_block_uids)}"  # Keras's backend.get_uid("prestem"): prestem1, prestem2 ...

    def apply(inputs):
        x = layers.Conv2D(filters=projection_dim, kernel_size=7, padding="same", groups=projection_dim,
                          name=f"{name}_depthwise_conv")(inputs)
        x = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_layernorm")(x)
        x = layers.Dense(4 * projection_dim, name=f"{name}_pointwise_conv_1")(x)
        x = layers.Activation("gelu", name=f"{name}_gelu")(x)
        x = layers.Dense(projection_dim, name=f"{name}_pointwise_conv_2")(x)
        if layer_scale_init_value is not None:
            x = LayerScale(layer_scale_init_value, projection_dim, name=f"{name}_layer_scale")(x)
        if drop_path_rate:
            layer = StochasticDepth(drop_path_rate, name=f"{name}_stochastic_depth")
        else:
            layer = layers.Activation("linear", name=f"{name}_identity")
        # Keras's ``inputs + layer(x)``: an operation (keras.src.ops.numpy.Add), not in ``model.layers``
        return inputs + layer(x)

    return apply


def PreStem(name):
    """The input Normalization with ImageNet's statistics (``{name}_prestem_normalization``)."""
    def apply(x):
        return layers.Normalization(mean=list(IMAGENET_MEAN), variance=list(IMAGENET_VARIANCE),
                                    name=f"{name}_prestem_normalization")(x)

    return apply


def Head(num_classes=1000, classifier_activation=None, name="convnext"):
    """The top: global average pooling, LayerNormalization (1e-6) and the Dense classifier."""
    def apply(x):
        x = layers.GlobalAveragePooling2D(name=f"{name}_head_gap")(x)
        x = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_head_layernorm")(x)
        return layers.Dense(num_classes, activation=classifier_activation, name=f"{name}_head_dense")(x)

    return apply


def ConvNeXt(depths, projection_dims, drop_path_rate=0.0, layer_scale_init_value=1e-6, default_size=224,
             name="convnext", include_preprocessing=True, include_top=True, weights=None, input_tensor=None,
             input_shape=None, pooling=None, classes=1000, classifier_activation="softmax", weights_name=None,
             where="ConvNeXt"):
    """A ConvNeXt network of any configuration, as Keras's ``keras.applications.convnext.ConvNeXt`` builds it.

    Args:
        depths: blocks in each of the four stages.
        projection_dims: channels of each of the four stages.
        drop_path_rate: the largest stochastic-depth rate (the rates grow linearly from 0 over the blocks).
        layer_scale_init_value: the LayerScale start (None: no LayerScale).
        default_size: the default height and width.
        name: the model's name, also the prefix of every layer's name.
        include_preprocessing: start with the ImageNet Normalization (when the input has 3 channels).
        weights_name: the variant (``"convnext_tiny"`` ...) whose ImageNet file ``weights="imagenet"`` loads.
        where: the network, named in errors.

    The other arguments are those of :func:`ConvNeXtTiny`. Returns a functional :class:`~course_lib.models.Model`.
    """
    if config.image_data_format() == "channels_first":
        raise ValueError(
            f"{where}: ConvNeXt does not support the 'channels_first' image data format. Switch to "
            "'channels_last' (keras.config.set_image_data_format). Received: image_data_format='channels_first'"
        )
    imagenet_utils.check_arguments(where, weights, include_top, classes, pooling, classifier_activation)
    input_shape = imagenet_utils.obtain_input_shape(input_shape, default_size=default_size, min_size=32,
                                                    require_flatten=include_top, weights=weights, where=where)
    img_input = imagenet_utils.inputs(input_shape, input_tensor, where)
    x = img_input
    if include_preprocessing and input_shape[-1] == 3:
        x = PreStem(name=name)(x)
    stem = Sequential([
        layers.Conv2D(projection_dims[0], kernel_size=4, strides=4, name=f"{name}_stem_conv"),
        layers.LayerNormalization(epsilon=1e-6, name=f"{name}_stem_layernorm"),
    ], name=f"{name}_stem")
    downsample_layers = [stem] + [
        Sequential([
            layers.LayerNormalization(epsilon=1e-6, name=f"{name}_downsampling_layernorm_{i}"),
            layers.Conv2D(projection_dims[i + 1], kernel_size=2, strides=2, name=f"{name}_downsampling_conv_{i}"),
        ], name=f"{name}_downsampling_block_{i}")
        for i in range(3)
    ]
    total = sum(depths)
    # Keras's np.linspace(0, drop_path_rate, total), written out.
    rates = [0.0] * total if total < 2 else [float(drop_path_rate * k / (total - 1)) for k in range(total)]
    if total:
        rates[-1] = float(drop_path_rate)
    cur = 0
    for i in range(4):
        x = downsample_layers[i](x)
        for j in range(depths[i]):
            x = ConvNeXtBlock(projection_dim=projection_dims[i], drop_path_rate=rates[cur + j],
                              layer_scale_init_value=layer_scale_init_value, name=f"{name}_stage_{i}_block_{j}")(x)
        cur += depths[i]
    if include_top:
        x = Head(num_classes=classes, classifier_activation=classifier_activation, name=name)(x)
    else:
        x = imagenet_utils.pool(x, pooling)
        x = layers.LayerNormalization(epsilon=1e-6)(x)
    model = Model(img_input, x, name=name)
    if weights == "imagenet":
        expected = MODEL_CONFIGS[weights_name.split("convnext_")[-1]]
        if list(depths) != expected["depths"] or list(projection_dims) != expected["projection_dims"]:
            raise ValueError(
                f"{where}: the architecture does not match the {weights_name} weights. Expected depths "
                f"{expected['depths']} and projection_dims {expected['projection_dims']}. Received: "
                f"depths={list(depths)}, projection_dims={list(projection_dims)}"
            )
        if weights_name not in name:
            raise ValueError(
                f"{where}: with weights='imagenet' the model name must contain the variant {weights_name!r} "
                f"(Keras's weight files are named after it). Received: name={name!r}"
            )
    file_name = f"{name}.h5" if include_top else f"{name}_notop.h5"
    return imagenet_utils.load_weights(model, where, weights, file_name,
                                       f"keras.applications.{where}(include_top={include_top})")


def _variant(variant, where, include_top, include_preprocessing, weights, input_tensor, input_shape, pooling,
             classes, classifier_activation, name):
    settings = MODEL_CONFIGS[variant]
    return ConvNeXt(depths=settings["depths"], projection_dims=settings["projection_dims"], drop_path_rate=0.0,
                    layer_scale_init_value=1e-6, default_size=settings["default_size"], name=name,
                    include_preprocessing=include_preprocessing, include_top=include_top, weights=weights,
                    input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
                    classifier_activation=classifier_activation, weights_name=f"convnext_{variant}", where=where)


def ConvNeXtTiny(include_top=True, include_preprocessing=True, weights="imagenet", input_tensor=None,
                 input_shape=None, pooling=None, classes=1000, classifier_activation="softmax",
                 name="convnext_tiny"):
    """ConvNeXt-Tiny (28.6M parameters) as Keras's ``keras.applications.ConvNeXtTiny`` builds it.

    Args:
        include_top: whether to add the head (pooling, LayerNormalization, Dense classifier).
        include_preprocessing: start with the ImageNet Normalization, so the model takes pixels in 0 ... 255
            (keep it with ImageNet weights).
        weights: None (random), ``"imagenet"`` (Keras's file ``{name}.h5`` / ``{name}_notop.h5`` from its
            cache folder) or the path of a ``.weights.h5`` / ``.h5`` file.
        input_tensor: a symbolic tensor (``keras.Input``) to use as the input.
        input_shape: ``(height, width, channels)``, at least 32x32; with the top and ImageNet weights it
            must be ``(224, 224, 3)``.
        pooling: without the top: None (4D features), ``"avg"`` or ``"max"`` (then a LayerNormalization).
        classes: units of the classifier.
        classifier_activation: activation of the classifier (None or ``"softmax"`` with pretrained weights).
        name: the model's name and the prefix of its layers' names.

    Returns:
        A functional :class:`~course_lib.models.Model`.
    """
    return _variant("tiny", "ConvNeXtTiny", include_top, include_preprocessing, weights, input_tensor,
                    input_shape, pooling, classes, classifier_activation, name)


def ConvNeXtSmall(include_top=True, include_preprocessing=True, weights="imagenet", input_tensor=None,
                  input_shape=None, pooling=None, classes=1000, classifier_activation="softmax",
                  name="convnext_small"):
    """ConvNeXt-Small (50.2M parameters): Tiny's channels, 27 blocks in the third stage. See :func:`ConvNeXtTiny`."""
    return _variant("small", "ConvNeXtSmall", include_top, include_preprocessing, weights, input_tensor,
                    input_shape, pooling, classes, classifier_activation, name)


def ConvNeXtBase(include_top=True, include_preprocessing=True, weights="imagenet", input_tensor=None,
                 input_shape=None, pooling=None, classes=1000, classifier_activation="softmax",
                 name="convnext_base"):
    """ConvNeXt-Base (88.6M parameters): channels 128 ... 1024. See :func:`ConvNeXtTiny`."""
    return _variant("base", "ConvNeXtBase", include_top, include_preprocessing, weights, input_tensor,
                    input_shape, pooling, classes, classifier_activation, name)


def ConvNeXtLarge(include_top=True, include_preprocessing=True, weights="imagenet", input_tensor=None,
                  input_shape=None, pooling=None, classes=1000, classifier_activation="softmax",
                  name="convnext_large"):
    """ConvNeXt-Large (197.8M parameters): channels 192 ... 1536. See :func:`ConvNeXtTiny`."""
    return _variant("large", "ConvNeXtLarge", include_top, include_preprocessing, weights, input_tensor,
                    input_shape, pooling, classes, classifier_activation, name)


def ConvNeXtXLarge(include_top=True, include_preprocessing=True, weights="imagenet", input_tensor=None,
                   input_shape=None, pooling=None, classes=1000, classifier_activation="softmax",
                   name="convnext_xlarge"):
    """ConvNeXt-XLarge (350.2M parameters): channels 256 ... 2048. See :func:`ConvNeXtTiny`."""
    return _variant("xlarge", "ConvNeXtXLarge", include_top, include_preprocessing, weights, input_tensor,
                    input_shape, pooling, classes, classifier_activation, name)


def preprocess_input(x, data_format=None):
    """Keras's ConvNeXt ``preprocess_input``: ``x`` itself, unchanged (the model normalises its input).

    ConvNeXt takes pixels in 0 ... 255: its first layer is a Normalization with ImageNet's statistics.
    Keras keeps this function, which returns its input, for older code; so does course_lib.
    """
    return x


decode_predictions = imagenet_utils.decode_predictions


def count_params(variant="tiny", include_top=True, classes=1000, input_channels=3):
    """The trainable parameters of a ConvNeXt variant, counted from its configuration without building it.

    Every ConvNeXt weight is trainable (the Normalization's statistics are constants), and no count depends
    on the input's height and width. ``variant``: a key of :data:`MODEL_CONFIGS`.
    """
    if variant not in MODEL_CONFIGS:
        raise ValueError(f"count_params: variant must be one of {sorted(MODEL_CONFIGS)}. Received: {variant!r}")
    depths, dims = MODEL_CONFIGS[variant]["depths"], MODEL_CONFIGS[variant]["projection_dims"]
    total = 4 * 4 * input_channels * dims[0] + dims[0] + 2 * dims[0]  # stem conv and layernorm
    for i in range(3):
        total += 2 * dims[i] + 2 * 2 * dims[i] * dims[i + 1] + dims[i + 1]  # layernorm, conv 2x2
    for depth, dim in zip(depths, dims):
        block = 7 * 7 * dim + dim + 2 * dim + (dim * 4 * dim + 4 * dim) + (4 * dim * dim + dim) + dim
        total += depth * block
    total += 2 * dims[-1]  # the final LayerNormalization (head's or the no-top one)
    if include_top:
        total += dims[-1] * classes + classes
    return total
