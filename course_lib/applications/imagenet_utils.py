"""What every network of ``course_lib.applications`` shares: Keras's ``keras.applications.imagenet_utils``.

- :func:`obtain_input_shape`: Keras's rules for ``input_shape`` (the default
  size, the minimum size, static sizes with a Flatten top, three channels for
  ImageNet weights), with Keras's warnings and errors;
- :func:`check_arguments`: the ``weights`` / ``classes`` / ``pooling`` /
  ``classifier_activation`` checks every network makes first;
- :func:`load_weights`: ``weights="imagenet"`` reads Keras's published file
  from Keras's cache folder (course_lib downloads nothing) and otherwise says
  where to put it; a path loads that file;
- :func:`pool`: the optional global pooling of a network without its top;
- :func:`correct_pad`: the zero padding before a strided convolution that the
  mobile networks use;
- :func:`preprocess_input` in Keras's three modes (``"caffe"``, ``"tf"``,
  ``"torch"``) and :func:`decode_predictions` (class names from Keras's
  ``imagenet_class_index.json``, also read from the cache folder).
"""
from __future__ import annotations

import json
import os
import warnings

from course_lib import activations, backend, config, layers
from course_lib.layers.base import KerasTensor

CAFFE_MEANS = (103.939, 116.779, 123.68)
"""ImageNet's mean pixel in B, G, R order (the "caffe" mode)."""
TORCH_MEANS, TORCH_STDS = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
"""ImageNet's channel means and standard deviations of pixels in [0, 1], R, G, B (the "torch" mode)."""
CLASS_INDEX_FILE = "imagenet_class_index.json"
"""The file of class names that Keras's ``decode_predictions`` downloads into its cache folder."""
_class_index = {}


def keras_cache_folder():
    """Where Keras keeps downloaded weights: ``$KERAS_HOME/models`` or ``~/.keras/models``."""
    from course_lib.utils.file_utils import keras_home

    return os.path.join(keras_home(), "models")


def check_arguments(where, weights, include_top, classes, pooling=None, classifier_activation="softmax",
                    imagenet_classes=1000):
    """Keras's first checks of a network's arguments; ``where`` (e.g. ``"ResNet50"``) names it in errors."""
    if not (weights in ("imagenet", None) or (isinstance(weights, (str, os.PathLike)) and os.path.exists(weights))):
        raise ValueError(
            f"{where}: `weights` must be None (random initialization), 'imagenet' or the path of an existing "
            f"weights file. Received: weights={weights!r}"
        )
    if weights == "imagenet" and include_top and classes != imagenet_classes:
        raise ValueError(
            f"{where}: with weights='imagenet' and include_top=True, classes must be {imagenet_classes}. "
            f"Received: classes={classes}"
        )
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"{where}: pooling must be None, 'avg' or 'max'. Received: pooling={pooling!r}")
    if weights is not None and include_top:
        activation = activations.get(classifier_activation)
        if activation not in (activations.get("softmax"), activations.get(None)):
            raise ValueError(
                f"{where}: only None and 'softmax' are allowed as classifier_activation with pretrained "
                f"weights and include_top=True. Received: classifier_activation={classifier_activation!r}"
            )


def obtain_input_shape(input_shape, default_size, min_size, data_format=None, require_flatten=True,
                       weights=None, where="obtain_input_shape"):
    """The network's input shape, from the user's ``input_shape`` or the default, checked as Keras does.

    Args:
        input_shape: None (the default shape) or a 3-tuple, channels last or first by ``data_format``.
        default_size: the default height and width (224 for most networks).
        min_size: the smallest height and width the network accepts.
        data_format: ``"channels_last"`` / ``"channels_first"``; None: ``config.image_data_format()``.
        require_flatten: whether the top is included (its Dense layers need static sizes).
        weights: None, ``"imagenet"`` (the default shape is required with the top; 3 channels always) or a path.
        where: the network, named in the errors.

    Returns:
        The input shape, a tuple of 3 entries (None for a free height or width).
    """
    data_format = config.image_data_format() if data_format is None else data_format
    first = data_format == "channels_first"
    if input_shape is not None:
        input_shape = tuple(input_shape)
    if weights != "imagenet" and input_shape and len(input_shape) == 3:
        channels = input_shape[0] if first else input_shape[-1]
        if channels not in (1, 3):
            warnings.warn(
                "This model usually expects 1 or 3 input channels. However, it was passed an input_shape "
                f"with {channels} input channels.", stacklevel=3,
            )
        default = (channels, default_size, default_size) if first else (default_size, default_size, channels)
    else:
        default = (3, default_size, default_size) if first else (default_size, default_size, 3)
    if weights == "imagenet" and require_flatten:
        if input_shape is not None and input_shape != default:
            raise ValueError(
                f"{where}: with include_top=True and weights='imagenet', input_shape must be {default}. "
                f"Received: input_shape={input_shape}"
            )
        return default
    if input_shape:
        if len(input_shape) != 3:
            raise ValueError(f"{where}: input_shape must be a tuple of three integers. Received: {input_shape}")
        channels, sizes = (input_shape[0], input_shape[1:]) if first else (input_shape[-1], input_shape[:2])
        if channels != 3 and weights == "imagenet":
            raise ValueError(f"{where}: ImageNet weights need 3 channels. Received: input_shape={input_shape}")
        if any(size is not None and size < min_size for size in sizes):
            raise ValueError(
                f"{where}: the input must be at least {min_size}x{min_size}. Received: input_shape={input_shape}"
            )
    elif require_flatten:
        input_shape = default
    else:
        input_shape = (3, None, None) if first else (None, None, 3)
    if require_flatten and None in input_shape:
        raise ValueError(
            f"{where}: with include_top=True the input_shape must be static. Received: input_shape={input_shape}"
        )
    return input_shape


def check_input_tensor(where, input_tensor):
    """Refuse an ``input_tensor`` that is not symbolic (None passes).

    Keras also wraps an eager tensor in an Input; course_lib's symbolic
    tensors cannot hold one, so it refuses it with this message.
    """
    if input_tensor is not None and not isinstance(input_tensor, KerasTensor):
        raise ValueError(
            f"{where}: input_tensor must be a symbolic tensor (keras.Input). "
            f"Received: input_tensor of type {type(input_tensor).__name__}"
        )


def inputs(input_shape, input_tensor, where):
    """The network's input: ``input_tensor`` when given (a ``keras.Input``), else a new Input of ``input_shape``."""
    check_input_tensor(where, input_tensor)
    return layers.Input(shape=input_shape) if input_tensor is None else input_tensor


def pool(x, pooling, named=False):
    """``x`` through the global pooling a network without its top asks for (None: ``x`` itself).

    ``named``: call the layer ``avg_pool`` or ``max_pool``, as Keras does in
    ResNet, DenseNet, EfficientNet and MobileNetV3 (elsewhere it leaves them unnamed).
    """
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name="avg_pool" if named else None)(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name="max_pool" if named else None)(x)
    return x


def load_weights(model, where, weights, file_name, keras_call):
    """Load ``weights`` into ``model``: None leaves the random start, a path loads that file.

    ``"imagenet"`` loads Keras's file ``file_name`` from :func:`keras_cache_folder`, where Keras keeps it
    after ``keras_call`` (e.g. ``"keras.applications.ResNet50(include_top=False)"``) ran once with a network.
    """
    if weights == "imagenet":
        path = os.path.join(keras_cache_folder(), file_name)
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"{where}: weights='imagenet' needs Keras's file {file_name!r} and course_lib downloads "
                f"nothing. Put it at {path} (where Keras caches it: run `{keras_call}` once on a machine with "
                "a network and copy the file), or pass weights=None or the path of a weights file."
            )
        model.load_weights(path)
    elif weights is not None:
        model.load_weights(os.fspath(weights))
    return model


def correct_pad(inputs, kernel_size):
    """``((top, bottom), (left, right))`` zeros that make a strided 'valid' convolution centre its windows.

    Keras's rule: half the kernel on each side, one less at the start of an even-sized axis
    (and of an axis of unknown size).
    """
    axis = 2 if config.image_data_format() == "channels_first" else 1
    size = tuple(inputs.shape[axis:axis + 2])
    kernel_size = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    adjust = (1, 1) if size[0] is None else (1 - size[0] % 2, 1 - size[1] % 2)
    correct = (kernel_size[0] // 2, kernel_size[1] // 2)
    return (correct[0] - adjust[0], correct[0]), (correct[1] - adjust[1], correct[1])


def preprocess_input(x, data_format=None, mode="caffe"):
    """Images with pixels in 0 ... 255 prepared as a network's ImageNet weights expect.

    Modes (Keras's):

    - ``"caffe"`` (VGG, ResNet): RGB -> BGR, then ImageNet's mean pixel subtracted, no scaling;
    - ``"tf"`` (MobileNet, Inception, Xception, ResNetV2...): scaled to -1 ... 1;
    - ``"torch"`` (DenseNet): scaled to 0 ... 1, then each channel standardised with ImageNet's
      means and standard deviations.

    ``x``: 3D or 4D, channels last (``(..., H, W, 3)``) or first (``(N, 3, H, W)`` / ``(3, H, W)``).
    Returns a new float array (Keras's own function overwrites a float NumPy input; course_lib never
    changes its input).
    """
    if mode not in ("caffe", "tf", "torch"):
        raise ValueError(f"preprocess_input: mode must be one of 'caffe', 'tf' or 'torch'. Received: mode={mode!r}")
    if data_format is None:
        data_format = config.image_data_format()
    elif data_format not in ("channels_first", "channels_last"):
        raise ValueError(
            "preprocess_input: data_format must be 'channels_first' or 'channels_last'. "
            f"Received: data_format={data_format!r}"
        )
    xp = backend.xp
    array = backend.as_numeric(x, "preprocess_input")
    if array.dtype.kind != "f":
        array = array.astype(backend.floatx())
    if mode == "tf":
        return array / array.dtype.type(127.5) - array.dtype.type(1.0)
    axis = -1 if data_format == "channels_last" else (0 if array.ndim == 3 else 1)
    if array.shape[axis] != 3:
        raise ValueError(
            f"preprocess_input: expected 3 color channels on axis {axis} ({data_format}). "
            f"Received: an array of shape {tuple(array.shape)}"
        )
    shape = [1] * array.ndim
    shape[axis] = 3
    if mode == "torch":
        scaled = array / array.dtype.type(255.0)
        means = xp.asarray(TORCH_MEANS, dtype=array.dtype).reshape(shape)
        return (scaled - means) / xp.asarray(TORCH_STDS, dtype=array.dtype).reshape(shape)
    return xp.flip(array, axis=axis) - xp.asarray(CAFFE_MEANS, dtype=array.dtype).reshape(shape)


def _read_class_index():
    path = os.path.join(keras_cache_folder(), CLASS_INDEX_FILE)
    if path not in _class_index:
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"decode_predictions: the ImageNet class names are in Keras's file {CLASS_INDEX_FILE!r} and "
                f"course_lib downloads nothing. Put it at {path} (where Keras caches it: call "
                "`keras.applications.imagenet_utils.decode_predictions` once on a machine with a network and "
                "copy the file)."
            )
        with open(path, encoding="utf-8") as handle:
            _class_index[path] = json.load(handle)
    return _class_index[path]


def decode_predictions(preds, top=5):
    """The ``top`` classes of each row of ImageNet predictions: lists of ``(class_id, name, score)``.

    ``preds``: ``(samples, 1000)``. The names come from Keras's ``imagenet_class_index.json`` in its
    cache folder (a ``FileNotFoundError`` says where when it is missing).
    """
    predictions = backend.to_numpy(preds)
    if predictions.ndim != 2 or predictions.shape[1] != 1000:
        raise ValueError(
            "decode_predictions: expected a batch of predictions (a 2D array of shape (samples, 1000)). "
            f"Received: an array of shape {tuple(predictions.shape)}"
        )
    index = _read_class_index()
    results = []
    for row in predictions:
        best = row.argsort()[-top:][::-1]
        result = [tuple(index[str(i)]) + (row[i],) for i in best]
        result.sort(key=lambda entry: entry[2], reverse=True)
        results.append(result)
    return results


__all__ = ["decode_predictions", "preprocess_input"]
