"""Utilities with Keras's names: seeding, label encoding, padding sequences, PyDataset, plot_model and image files."""
from course_lib import backend
from course_lib.utils.image_dataset import image_dataset_from_directory
from course_lib.utils.image_utils import array_to_img, img_to_array, load_img, save_img
from course_lib.utils.plot_model import model_to_graph, plot_model
from course_lib.utils.py_dataset import PyDataset
from course_lib.preprocessing.sequence import pad_sequences

Sequence = PyDataset  # Keras 3 keeps keras.utils.Sequence as another name for PyDataset

__all__ = ["PyDataset", "Sequence", "array_to_img", "image_dataset_from_directory", "img_to_array", "load_img",
           "model_to_graph", "pad_sequences", "plot_model", "save_img", "set_random_seed", "to_categorical"]


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
