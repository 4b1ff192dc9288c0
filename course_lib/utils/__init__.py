"""Utilities with Keras's names: seeding, label encoding, padding sequences, PyDataset, plot_model, image,
text and audio folders, time series windows, dataset splits, the progress bar and the functional graph's inputs."""
import gc
import math
import numbers
import random

from course_lib import backend
from course_lib.backend import is_keras_tensor, standardize_dtype
from course_lib.config import (
    disable_interactive_logging, enable_interactive_logging, is_interactive_logging_enabled,
)
from course_lib.saving import (
    CustomObjectScope, custom_object_scope, deserialize_keras_object, get_custom_objects, get_registered_name,
    get_registered_object, register_keras_serializable, serialize_keras_object,
)
from course_lib.utils.audio_dataset import audio_dataset_from_directory
from course_lib.utils.config_dict import Config
from course_lib.utils.dataset_ops import Dataset
from course_lib.utils.file_utils import get_file
from course_lib.utils.image_dataset import image_dataset_from_directory
from course_lib.utils.image_utils import array_to_img, img_to_array, load_img, save_img
from course_lib.utils.plot_model import model_to_graph, plot_model
from course_lib.utils.progbar import Progbar
from course_lib.utils.py_dataset import PyDataset
from course_lib.utils.text_dataset import text_dataset_from_directory
from course_lib.utils.timeseries import timeseries_dataset_from_array
from course_lib.preprocessing.sequence import pad_sequences

Sequence = PyDataset  # Keras 3 keeps keras.utils.Sequence as another name for PyDataset

__all__ = ["Config", "CustomObjectScope", "Progbar", "PyDataset", "Sequence", "array_to_img",
           "audio_dataset_from_directory", "clear_session",
           "custom_object_scope", "deserialize_keras_object", "disable_interactive_logging",
           "enable_interactive_logging", "get_custom_objects", "get_file", "get_registered_name",
           "get_registered_object",
           "is_interactive_logging_enabled", "register_keras_serializable", "serialize_keras_object",
           "get_source_inputs",
           "image_dataset_from_directory", "img_to_array", "is_keras_tensor", "load_img", "model_to_graph",
           "normalize", "pack_x_y_sample_weight", "pad_sequences", "plot_model", "save_img", "set_random_seed",
           "split_dataset", "standardize_dtype", "text_dataset_from_directory", "timeseries_dataset_from_array",
           "to_categorical",
           "unpack_x_y_sample_weight"]


def set_random_seed(seed):
    """Seed course_lib's random draws (initializers, dropout masks, shuffling)."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"set_random_seed: expected an int seed. Received: {seed!r}")
    backend.set_seed(seed)


def to_categorical(y, num_classes=None):
    """One-hot encode integer class labels: ``(N,) -> (N, num_classes)``.

    Args:
        y: integer labels from 0 to ``num_classes - 1``; a trailing axis of size 1 is dropped.
        num_classes: number of classes; ``max(y) + 1`` when None.
    """
    labels = backend.xp.asarray(y)
    if labels.dtype.kind == "f" and not (labels == labels.astype(int)).all():
        raise ValueError("to_categorical: labels must be whole numbers. Received non-integer values.")
    labels = labels.astype(int)
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.size and labels.min() < 0:
        raise ValueError(f"to_categorical: labels must be >= 0. Received a minimum of {labels.min()}")
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    elif labels.size and labels.max() >= num_classes:
        raise ValueError(
            f"to_categorical: label {labels.max()} is out of range for num_classes={num_classes}"
        )
    out = backend.xp.zeros(labels.shape + (num_classes,), dtype=backend.floatx())
    backend.xp.put_along_axis(out, labels[..., None], 1.0, axis=-1)
    return out


def normalize(x, axis=-1, order=2):
    """``x`` divided by its ``order``-norm along ``axis`` (a zero norm divides by 1): Keras's function.

    The norm is ``numpy.linalg.norm``'s (``order`` as its ``ord``: 2, 1,
    ``inf``, any p), in the array's float type (integers give float64), as
    Keras computes it for a NumPy array. Keras returns ``(1, n)`` for a vector
    of ``n`` values and mishandles ``axis=0`` (it expands the norm on the last
    axis); here the result always has ``x``'s shape, normalised along ``axis``.

    Args:
        x: the array.
        axis: the axis (or a pair of axes, for a matrix norm) to normalise along.
        order: the order of the norm.
    """
    xp = backend.xp
    array = backend.as_numeric(x, "normalize")
    pair = isinstance(axis, tuple) and len(axis) == 2 and all(_is_int(item) for item in axis)
    if not (_is_int(axis) or pair):
        raise TypeError(f"normalize: axis must be an int (or a pair of ints). Received: axis={axis!r}")
    if array.ndim == 0:
        raise ValueError(f"normalize: expected an array with at least one axis. Received: shape {array.shape}")
    for item in axis if pair else (axis,):
        if not -array.ndim <= item < array.ndim:
            raise ValueError(f"normalize: axis {axis} is out of range for an array of shape {array.shape}.")
    norm = xp.linalg.norm(array, ord=order, axis=axis, keepdims=True)
    return array / xp.where(norm == 0, xp.ones_like(norm), norm)


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``: the tuple ``fit`` takes (Keras's function).

    A single ``x`` is returned as it is, unless it is a list or tuple (of
    inputs), which is wrapped as ``(x,)``; ``sample_weight`` without ``y`` is dropped, as in Keras.
    """
    if y is None:
        return (x,) if isinstance(x, (list, tuple)) else x
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def unpack_x_y_sample_weight(data):
    """``(x, y, sample_weight)`` from ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` (Keras's function).

    A list counts as a tuple; the missing parts are None. For a custom ``train_step``.
    """
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return (data, None, None)
    if len(data) in (1, 2, 3):
        return tuple(data) + (None,) * (3 - len(data))
    raise ValueError(
        "unpack_x_y_sample_weight: data is expected to be x, (x,), (x, y) or (x, y, sample_weight). "
        f"Received: a tuple of {len(data)} items"
    )


def get_source_inputs(tensor):
    """The ``Input`` tensors ``tensor`` is computed from, as a list (Keras's function).

    Walks the functional graph back from ``tensor``, each source once, in the
    order first reached (inputs of a node in order, depth first), as Keras does.
    Anything that is not a symbolic tensor is returned as it is.
    """
    if not is_keras_tensor(tensor):
        return tensor
    node = tensor.node
    if node is None:
        return [tensor]
    if not node.inputs:  # an InputLayer's node: this tensor is a source
        return list(node.outputs)
    sources = []
    for item in node.inputs:
        for source in get_source_inputs(item):
            if all(source is not known for known in sources):
                sources.append(source)
    return sources


def clear_session(free_memory=True):
    """Reset course_lib's global state (automatic layer names), as ``keras.utils.clear_session``.

    Args:
        free_memory: also run Python's garbage collector, as Keras does.
    """
    backend.clear_session()
    if free_memory:
        gc.collect()


# ---------------------------------------------------------------- split_dataset
def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_array(value):
    return hasattr(value, "shape") and hasattr(value, "dtype") and hasattr(value, "__getitem__")


class SplitDataset(Dataset):
    """One side of :func:`split_dataset` of a PyDataset: its samples, in batches of the original batch size.

    ``dataset[i]`` has the original batches' structure (``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``).
    """

    def __init__(self, arrays, single, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.arrays = arrays
        self.single = single
        self.batch_size = batch_size

    def __len__(self):
        return math.ceil(len(self.arrays[0]) / self.batch_size)

    def __getitem__(self, index):
        if not _is_int(index) or not 0 <= index < len(self):
            raise IndexError(f"SplitDataset: index must be an int from 0 to {len(self) - 1}. Received: {index!r}")
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        batch = tuple(array[part] for array in self.arrays)
        return batch[0] if self.single else batch


def _dataset_arrays(dataset):
    """``(arrays, rebuild)``: the dataset as a tuple of same-length arrays and a function making one side."""
    where = "split_dataset"
    if isinstance(dataset, PyDataset):
        batches = [dataset[index] for index in range(len(dataset))]
        if not batches:
            raise ValueError(f"{where}: received an empty PyDataset ({type(dataset).__name__} has no batches).")
        single = not isinstance(batches[0], (tuple, list))
        parts = [(batch,) if single else tuple(batch) for batch in batches]
        if any(isinstance(batch, dict) for batch in batches) or len({len(part) for part in parts}) != 1:
            raise TypeError(
                f"{where}: a PyDataset's batches must all be x, (x,), (x, y) or (x, y, sample_weight) arrays. "
                f"Received: batches of {type(dataset).__name__} with different structures"
            )
        xp = backend.xp
        arrays = tuple(xp.concatenate([xp.asarray(part[n]) for part in parts], axis=0) for n in range(len(parts[0])))
        batch_size = len(parts[0][0])
        return arrays, lambda side: SplitDataset(side, single, batch_size)
    if isinstance(dataset, (list, tuple)):
        kind = type(dataset).__name__
        if not dataset:
            raise ValueError(f"{where}: received an empty {kind}. Pass a non-empty {kind} of arrays of the same length.")
        for index, element in enumerate(dataset):
            if not _is_array(element):
                raise ValueError(
                    f"{where}: expected a {kind} of arrays. Received: {type(element).__name__} at index {index}."
                )
            if element.ndim == 0 or len(element) != len(dataset[0]):
                raise ValueError(
                    f"{where}: received a {kind} of arrays with different lengths. Mismatch found at index "
                    f"{index}: expected shape[0]={dataset[0].shape[0] if dataset[0].ndim else None}, received "
                    f"shape={tuple(element.shape)}."
                )
        return tuple(backend.xp.asarray(element) for element in dataset), tuple
    if _is_array(dataset):
        if dataset.ndim == 0:
            raise ValueError(f"{where}: expected an array of samples (axis 0). Received: shape {dataset.shape}")
        return (backend.xp.asarray(dataset),), lambda side: side[0]
    raise TypeError(
        f"{where}: dataset must be a NumPy array, a list or tuple of arrays of the same length, or a course_lib "
        f"PyDataset. Received: dataset of type {type(dataset).__name__}"
    )


def _split_sizes(left_size, right_size, total):
    """Keras's ``_rescale_dataset_split_sizes``: its type rules (exactly int or float), checks and rounding."""
    where = "split_dataset"
    left_type, right_type = type(left_size), type(right_size)
    for name, size, kind in (("left_size", left_size, left_type), ("right_size", right_size, right_type)):
        if size is not None and kind not in (int, float):
            raise TypeError(f"{where}: {name} must be an int, a float or None. Received: {name}={size!r} "
                            f"of type {kind.__name__}")
    if left_size == 0 and right_size == 0:
        raise ValueError(f"{where}: left_size and right_size are both zero. At least one must be non-zero.")
    for name, size, kind in (("left_size", left_size, left_type), ("right_size", right_size, right_type)):
        if (kind is int and (size <= 0 or size >= total)) or (kind is float and (size <= 0 or size >= 1)):
            raise ValueError(
                f"{where}: {name} must be a positive int smaller than {total} (the number of samples), or a "
                f"float in (0, 1). Received: {name}={size!r}"
            )
    if left_type is float and right_type is float and left_size + right_size > 1:
        raise ValueError(
            f"{where}: left_size + right_size must be at most 1. Received: left_size={left_size}, "
            f"right_size={right_size}"
        )
    left = round(left_size * total) if left_type is float else left_size
    right = round(right_size * total) if right_type is float else right_size
    if left is None:
        left = total - right
    elif right is None:
        right = total - left
    if left + right > total:
        raise ValueError(
            f"{where}: left_size + right_size must be at most the number of samples. Received: "
            f"left_size + right_size = {left + right} samples for {total} samples"
        )
    for side, size in (("left", left), ("right", right)):
        if size == 0:
            raise ValueError(
                f"{where}: with {total} samples, left_size={left} and right_size={right}, the {side} side "
                "would be empty. Adjust left_size or right_size."
            )
    return int(left), int(right)


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None):
    """Split a dataset into a left part and a right part (say training and test): Keras's function.

    Keras's rules: a size is an int (a number of samples, from 1 to N - 1) or
    a float (a fraction in (0, 1), rounded half to even, ``round(size * N)``);
    a missing size is the complement of the other; the left part is the
    FIRST ``left_size`` samples and the right part the LAST ``right_size``
    (samples in between are dropped when the two add to less than N). With
    ``shuffle`` the samples are first shuffled by Python's ``random`` seeded
    with ``seed``, as Keras shuffles them, so both parts hold the same samples
    in the same order as Keras's.

    Args:
        dataset: an array (samples on axis 0), a list or tuple of arrays of the
            same length, or a course_lib PyDataset of array batches.
        left_size: the left part's size (int or float), or None.
        right_size: the right part's size (int or float), or None.
        shuffle: shuffle the samples before splitting.
        seed: the shuffling seed (drawn from course_lib's generator when None).

    Returns:
        ``(left, right)``. Keras returns two ``tf.data.Dataset`` of single
        samples; course_lib returns the data themselves: two arrays for an
        array, two tuples of arrays for a list or tuple (Keras turns a list
        into a tuple too), and two PyDatasets batched like the original for a
        PyDataset.
    """
    if not isinstance(dataset, (list, tuple, PyDataset)) and not _is_array(dataset):
        _dataset_arrays(dataset)  # raises the TypeError naming the type
    if left_size is None and right_size is None:
        raise ValueError("split_dataset: pass at least one of left_size and right_size. "
                         "Received: left_size=None and right_size=None")
    arrays, rebuild = _dataset_arrays(dataset)
    total = len(arrays[0])
    if total == 0:
        raise ValueError("split_dataset: received an empty dataset (no samples on axis 0).")
    order = list(range(total))
    if shuffle:
        if seed is None:
            seed = int(backend.rng().integers(10 ** 6))  # Keras draws one too; here from course_lib's generator
        random.Random(seed).shuffle(order)  # Keras's random.seed(seed); random.shuffle(samples)
    left, right = _split_sizes(left_size, right_size, total)
    xp = backend.xp
    parts = []
    for chosen in (order[:left], order[-right:]):
        index = xp.asarray(chosen)
        parts.append(rebuild(tuple(array[index] for array in arrays)))
    return tuple(parts)
