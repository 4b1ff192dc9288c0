"""Layers with Keras's names, arguments and weight layouts, each with a backward pass."""
import importlib
import inspect

from course_lib.layers.attention import AdditiveAttention, Attention
from course_lib.layers.audio import MelSpectrogram, STFTSpectrogram
from course_lib.layers.base import InputSpec, KerasTensor, Layer
from course_lib.layers.convolutional import (
    Conv1D, Conv2D, Conv3D, Convolution1D, Convolution2D, Convolution3D,
)
from course_lib.layers.convolutional_transpose import (
    Conv1DTranspose, Conv2DTranspose, Conv3DTranspose, Convolution1DTranspose, Convolution2DTranspose,
    Convolution3DTranspose,
)
from course_lib.layers.convolutional_depthwise import (
    DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D, SeparableConv2D, SeparableConvolution1D, SeparableConvolution2D,
)
from course_lib.layers.core import (
    Activation, ActivityRegularization, Dense, Dropout, Flatten, Identity, Input, InputLayer, Reshape,
)
from course_lib.layers.embedding import Embedding, Masking
from course_lib.layers.leaky_relu import LeakyReLU
from course_lib.layers.lambda_layer import Lambda
from course_lib.layers.activation_layers import ELU, PReLU, Softmax, ThresholdedReLU
from course_lib.layers.einsum_dense import EinsumDense
from course_lib.layers.noise_and_normalization import (
    AlphaDropout, GaussianDropout, GaussianNoise, Normalization, ReLU, SpatialDropout1D, SpatialDropout2D,
    SpatialDropout3D,
)
from course_lib.layers.preprocessing import (
    CenterCrop, RandomBrightness, RandomContrast, RandomCrop, RandomFlip, RandomRotation, RandomTranslation,
    RandomZoom, Rescaling, Resizing,
)
from course_lib.layers.preprocessing_more import (
    AutoContrast, RandomErasing, RandomGrayscale, RandomHeight, RandomInvert, RandomPosterization, RandomSharpness,
    RandomShear, RandomWidth, Solarization,
)
from course_lib.layers.preprocessing_newer import (
    ContrastLimitedAdaptiveHistogramEqualization, CutMix, Equalization, MixUp, Pipeline, RandomColorDegeneration,
    RandomColorJitter, RandomElasticTransform, RandomGaussianBlur, RandomHue, RandomSaturation,
)
from course_lib.layers.preprocessing_extra import AugMix, RandAugment, RandomPerspective
from course_lib.layers.pooling import (
    AveragePooling1D, AveragePooling2D, AveragePooling3D, AvgPool1D, AvgPool2D, AvgPool3D,
    GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D, GlobalAvgPool1D, GlobalAvgPool2D,
    GlobalAvgPool3D, GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D, GlobalMaxPooling1D, GlobalMaxPooling2D,
    GlobalMaxPooling3D, MaxPool1D, MaxPool2D, MaxPool3D, MaxPooling1D, MaxPooling2D, MaxPooling3D,
)
from course_lib.layers.reshaping import (
    Cropping1D, Cropping2D, Cropping3D, Permute, RepeatVector, UpSampling1D, UpSampling2D, UpSampling3D,
    ZeroPadding1D, ZeroPadding2D, ZeroPadding3D,
)
from course_lib.layers.normalization import BatchNormalization
from course_lib.layers.layer_normalization import (
    GroupNormalization, LayerNormalization, RMSNormalization, UnitNormalization,
)
from course_lib.layers.position_embedding import PositionEmbedding, SinePositionEncoding
from course_lib.layers.bidirectional import Bidirectional
from course_lib.layers.recurrent import (
    GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell, SimpleRNN, SimpleRNNCell, StackedRNNCells,
)
from course_lib.layers.conv_lstm import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from course_lib.layers.wrappers import TimeDistributed, Wrapper
from course_lib.layers.spectral_normalization import SpectralNormalization
from course_lib.layers.reversible_embedding import ReversibleEmbedding
from course_lib.layers.text_preprocessing import CategoryEncoding, IntegerLookup, StringLookup, TextVectorization
from course_lib.layers.multi_head_attention import MultiHeadAttention
from course_lib.layers.group_query_attention import GroupQueryAttention
from course_lib.layers.hashing_and_discretization import Discretization, HashedCrossing, Hashing
from course_lib.layers.adaptive_pooling import (
    AdaptiveAveragePooling1D, AdaptiveAveragePooling2D, AdaptiveAveragePooling3D, AdaptiveMaxPooling1D,
    AdaptiveMaxPooling2D, AdaptiveMaxPooling3D,
)
from course_lib.layers import operations
from course_lib.layers.merging import (
    Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract,
    add, average, concatenate, dot, maximum, minimum, multiply, subtract,
)

_CLASSES = {
    name: value for name, value in list(globals().items())
    if isinstance(value, type) and issubclass(value, Layer) and value is not Layer and value.__name__ == name
}
"""Every layer class by its Keras class name (what configs say); aliases such as MaxPool2D are the same classes."""

__all__ = [
    "Activation", "ActivityRegularization", "AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D",
    "AdaptiveAveragePooling3D", "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D", "Add",
    "AdditiveAttention", "AlphaDropout", "Attention", "AugMix", "AutoContrast", "Average", "AveragePooling1D",
    "AveragePooling2D", "AveragePooling3D", "AvgPool1D", "AvgPool2D", "AvgPool3D", "BatchNormalization",
    "Bidirectional", "CategoryEncoding", "CenterCrop", "Concatenate", "ContrastLimitedAdaptiveHistogramEqualization",
    "Conv1D", "Conv1DTranspose", "Conv2D",
    "Conv2DTranspose", "Conv3D", "Conv3DTranspose", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "Convolution1D",
    "Convolution1DTranspose", "Convolution2D", "Convolution2DTranspose", "Convolution3D", "Convolution3DTranspose",
    "Cropping1D", "Cropping2D", "Cropping3D", "CutMix", "Dense", "DepthwiseConv1D", "DepthwiseConv2D",
    "Discretization", "Dot", "Dropout", "ELU", "EinsumDense", "Embedding", "Equalization", "Flatten", "GRU",
    "GRUCell", "GaussianDropout", "GaussianNoise", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
    "GlobalAveragePooling3D", "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D", "GlobalMaxPool1D",
    "GlobalMaxPool2D", "GlobalMaxPool3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
    "GroupNormalization", "GroupQueryAttention", "HashedCrossing", "Hashing", "Identity", "Input", "InputLayer",
    "InputSpec", "IntegerLookup", "KerasTensor", "LSTM", "LSTMCell", "Lambda", "Layer", "LayerNormalization",
    "LeakyReLU", "Masking", "MaxPool1D", "MaxPool2D", "MaxPool3D", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
    "Maximum", "MelSpectrogram", "Minimum", "MixUp", "MultiHeadAttention", "Multiply", "Normalization", "PReLU",
    "Permute", "Pipeline", "PositionEmbedding", "RMSNormalization", "RNN", "RNNCell", "RandAugment",
    "RandomBrightness", "RandomColorDegeneration", "RandomColorJitter", "RandomContrast", "RandomCrop",
    "RandomElasticTransform", "RandomErasing", "RandomFlip", "RandomGaussianBlur", "RandomGrayscale",
    "RandomHeight", "RandomHue", "RandomInvert", "RandomPerspective", "RandomPosterization", "RandomRotation",
    "RandomSaturation",
    "RandomSharpness", "RandomShear", "RandomTranslation", "RandomWidth", "RandomZoom", "ReLU", "RepeatVector",
    "Rescaling", "Reshape", "Resizing", "ReversibleEmbedding", "STFTSpectrogram", "SeparableConv1D",
    "SeparableConv2D", "SeparableConvolution1D", "SeparableConvolution2D", "SimpleRNN", "SimpleRNNCell",
    "SinePositionEncoding", "Softmax", "Solarization", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
    "SpectralNormalization", "StackedRNNCells", "StringLookup", "Subtract", "TextVectorization", "ThresholdedReLU",
    "TimeDistributed",
    "UnitNormalization", "UpSampling1D", "UpSampling2D", "UpSampling3D", "Wrapper", "ZeroPadding1D",
    "ZeroPadding2D", "ZeroPadding3D", "add", "average", "concatenate", "deserialize", "dot", "maximum", "minimum",
    "multiply", "serialize", "subtract",
]


def serialize(layer):
    """Keras 3's serialized form of a layer (or a model): module, class name, config, build config."""
    from course_lib import models

    if isinstance(layer, models.Sequential):
        entry = {"module": "keras", "class_name": "Sequential", "registered_name": None}
    elif isinstance(layer, models.Model):
        entry = {"module": "keras.src.models.functional", "class_name": "Functional",
                 "registered_name": "Functional"}
    else:
        cls = type(layer)
        class_name = cls.__name__
        builtin = _CLASSES.get(class_name) is cls
        if builtin:
            module = getattr(cls, "_keras_module", "keras.layers")  # RandomHeight: keras._legacy.layers
        else:
            # a Keras application's own layer (ConvNeXt's LayerScale: keras.src.applications.convnext) writes
            # Keras's module, which deserialize reads back; a subclass of it is its own module's
            module = vars(cls).get("_keras_module", cls.__module__)
        entry = {"module": module, "class_name": class_name,
                 "registered_name": None if builtin else _registered_name(cls)}
    entry["config"] = layer.get_config()
    if hasattr(layer, "get_build_config"):  # a layer Keras builds from several shapes (MultiHeadAttention)
        build_config = layer.get_build_config()
    else:
        shape = _build_shape(layer)
        build_config = None if shape is None else {"input_shape": shape}
    if build_config is not None:
        entry["build_config"] = build_config
    return entry


def _registered_name(cls):
    """Keras's: the class's own registration (a subclass of a registered class is not registered)."""
    from course_lib import saving

    return saving.get_registered_name(cls)


def _build_shape(layer):
    from course_lib import models

    if isinstance(layer, (InputLayer, models.Model)) or not layer.built:
        return None  # an Input has its shape in its config; a model rebuilds from its layers
    nodes = layer._inbound_nodes
    if not nodes:
        return getattr(layer, "_build_input_shape", None)
    node = nodes[0]
    shapes = [list(t.shape) for t in node.inputs]
    return shapes if node.inputs_are_list else shapes[0]


_APPLICATIONS = "keras.src.applications."


def _application_class(module, class_name):
    """course_lib's class for a Keras application's own layer, or None.

    Keras writes ConvNeXt's ``LayerScale`` with ``"module": "keras.src.applications.convnext"`` (and
    finds it there without custom_objects); its course_lib twin is ``course_lib.applications.convnext``'s
    class of the same name, which declares that module as its ``_keras_module``.
    """
    if not isinstance(module, str) or not module.startswith(_APPLICATIONS) or not isinstance(class_name, str):
        return None
    application = module[len(_APPLICATIONS):]
    if not application.isidentifier():
        return None
    target = f"course_lib.applications.{application}"
    try:
        found = importlib.import_module(target)
    except ModuleNotFoundError as error:
        if error.name != target:  # the module exists and fails to import: not ours to hide
            raise
        return None
    cls = vars(found).get(class_name)
    if inspect.isclass(cls) and issubclass(cls, Layer) and vars(cls).get("_keras_module") == module:
        return cls
    return None


def deserialize(config, custom_objects=None, build=True):
    """Rebuild a layer (or model) from :func:`serialize`'s output or from the config Keras writes.

    ``build=False`` leaves the layer unbuilt (a model rebuilding its graph builds it).
    """
    from course_lib import models  # models import layers: look them up only now
    from course_lib import saving

    classes = dict(_CLASSES, Sequential=models.Sequential, Model=models.Model, Functional=models.Model)
    name = config.get("class_name")
    if str(config.get("module", "")).startswith("keras.src.ops") and name in operations.OPERATIONS:
        # Keras's record of `x + y` (keras.src.ops.numpy.Add ...), not the layer of the same class name
        return operations.OPERATIONS[name].from_config(dict(config.get("config", {})))
    # custom_objects, the global custom objects and an enclosing custom_object_scope, as Keras looks them up
    cls = saving.find_object(name, classes, custom_objects, config.get("registered_name"))
    if cls is None:  # as Keras, from the module it names: a Keras application's own layer
        cls = _application_class(config.get("module"), name)
    classes.update(saving.custom_objects_in_effect(custom_objects))  # for the error message's list
    if cls is None and str(config.get("module", "")).startswith("keras.src.ops"):
        raise ValueError(
            f"layers.deserialize: {name!r} is a keras.ops operation ({config['module']}) that the model's "
            "computation uses, and course_lib loads layers and the arithmetic operations Keras records for operators "
            f"on symbolic tensors ({sorted(operations.OPERATIONS)}), not other keras.ops calls (it has no "
            "automatic differentiation to train through them). Write the computation as a layer of your own, "
            "with its backward, and pass it in custom_objects."
        )
    if cls is None:
        raise ValueError(
            f"layers.deserialize: unknown layer class {name!r}: course_lib has no such layer. "
            f"Known: {sorted(classes)}. For a layer of your own, pass custom_objects={{{name!r}: "
            "YourClass} or decorate it with keras.saving.register_keras_serializable()."
        )
    arguments = dict(config.get("config", {}))
    with saving.custom_object_scope(saving.custom_objects_in_effect(custom_objects)):  # seen by nested configs
        if issubclass(cls, models.Model):
            return cls.from_config(arguments, custom_objects)
        if "custom_objects" in inspect.signature(cls.from_config).parameters:  # Lambda: functions saved by name
            layer = cls.from_config(arguments, custom_objects=custom_objects)
        else:
            layer = cls.from_config(arguments)
    build_config = config.get("build_config") or {}
    shape = build_config.get("input_shape")
    if build and shape is not None and not layer.built:
        several = bool(shape) and isinstance(shape[0], (list, tuple))
        layer._maybe_build([tuple(s) for s in shape] if several else tuple(shape))
    elif build and "shapes_dict" in build_config and hasattr(layer, "build_from_config"):
        layer.build_from_config(build_config)
    return layer
