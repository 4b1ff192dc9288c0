"""``image_dataset_from_directory``: Keras 3's reader of image folders, as a course_lib PyDataset.

Keras returns a ``tf.data.Dataset``; course_lib returns an
:class:`ImageFolderDataset`, a :class:`~course_lib.utils.dataset_ops.Dataset` (a PyDataset with the
tf.data methods tutorials call: ``take``, ``map``, ``cache``...) of
``(images, labels)`` batches that ``fit``, ``evaluate`` and ``predict``
accept, with Keras's ``class_names`` and ``file_paths`` attributes. What is
the same as Keras:

* the files: one sub-folder per class (sorted by name, hidden ones skipped),
  each walked recursively in sorted order, the extensions ``.bmp .gif .jpeg
  .jpg .png``; ``file_paths`` in the same order, shuffled (``shuffle=True``)
  by ``numpy.random.RandomState(seed)`` exactly as Keras shuffles them;
* ``validation_split``: the LAST fraction of the (shuffled) files is the
  validation subset; ``subset="both"`` returns ``(training, validation)``;
* the images: decoded (Pillow), converted to 1, 3 or 4 channels and resized
  with TensorFlow's ``tf.image.resize`` rules (:func:`course_lib.ops.image.resize`:
  half-pixel centres, no antialiasing); float32, except ``"nearest"``, which
  keeps the files' uint8 pixels, as TensorFlow does;
* the labels: ``"int"`` (int32, ``(N,)``), ``"categorical"`` (float32 one-hot),
  ``"binary"`` (float32, ``(N, 1)``), or None; the printed
  ``Found N files belonging to K classes.``

What differs: TensorFlow shuffles the training files again every epoch with a
buffer of ``8 * batch_size`` (a local shuffle whose order depends on its own
random stream); here every epoch's order is a full shuffle drawn from the
seed, the first one being ``file_paths``' order. And a file that is not a
readable image is skipped with a warning naming it, where TensorFlow stops
with a decoding error in the middle of an epoch.

Host code by design: it reads files and hands NumPy arrays to the model.
"""
import math
import numbers
import os

import numpy

from course_lib import backend
from course_lib.utils import image_utils
from course_lib.utils.dataset_ops import Dataset

__all__ = ["ALLOWLIST_FORMATS", "ImageFolderDataset", "image_dataset_from_directory"]

ALLOWLIST_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
"""The file extensions read (case-insensitive), Keras's list."""
INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5")
"""The resize methods course_lib implements (Keras also lists ``gaussian`` and ``mitchellcubic``)."""
_CHANNELS = {"rgb": 3, "rgba": 4, "grayscale": 1}
_WHERE = "image_dataset_from_directory"


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


# ---------------------------------------------------------------- listing the files
def _walk(directory, follow_links, formats=ALLOWLIST_FORMATS):
    """Files with an allowed extension under ``directory``: the walk sorted by folder, files sorted."""
    for root, _, files in sorted(os.walk(directory, followlinks=follow_links), key=lambda entry: entry[0]):
        for name in sorted(files):
            if name.lower().endswith(formats):
                yield os.path.join(root, name)


def index_directory(directory, labels, class_names=None, shuffle=True, seed=None, follow_links=False, verbose=True,
                    formats=ALLOWLIST_FORMATS, keep=image_utils.readable_image, where=_WHERE, noun="image"):
    """Keras's listing: ``(file_paths, labels, class_names)`` (labels an int32 array, or None).

    Unreadable files are dropped (with a warning) before the labels are
    matched and before shuffling, so explicit ``labels`` count readable images.

    The keywords let the other ``*_dataset_from_directory`` readers share it:
    ``formats`` (the extensions listed), ``keep(where, path)`` (whether to keep
    a file; None keeps every one), ``where`` (the function named in errors) and
    ``noun`` (what a file holds, in errors).
    """
    if labels == "inferred":
        folders = [name for name in sorted(os.listdir(directory))
                   if os.path.isdir(os.path.join(directory, name)) and not name.startswith(".")]
        if class_names is not None:
            if not set(class_names) <= set(folders):
                raise ValueError(
                    f"{where}: class_names must name sub-folders of {directory!r}. "
                    f"Expected some of {folders}, received: class_names={list(class_names)}"
                )
            folders = list(class_names)
    else:
        folders = [""]
    paths, found_labels = [], []
    for label, folder in enumerate(folders):
        for path in _walk(os.path.join(directory, folder), follow_links, formats):
            if keep is None or keep(where, path):
                paths.append(path)
                found_labels.append(label)
    if labels == "inferred":
        labels, class_names = numpy.array(found_labels, dtype="int32"), folders
    elif labels is None:
        class_names = None
    else:
        if len(labels) != len(paths):
            raise ValueError(
                f"{where}: labels must have one entry per {noun} file. Received: {len(labels)} labels for "
                f"{len(paths)} {noun}s in {directory!r} (in the sorted order of os.walk)"
            )
        class_names = [str(label) for label in sorted(set(labels))]
        labels = numpy.array(labels)
    if verbose:
        kinds = "" if labels is None else f" belonging to {len(class_names)} classes"
        print(f"Found {len(paths)} files{kinds}.")
    if shuffle:
        # Two streams from the same seed: one permutation for the paths and the labels (Keras's way).
        numpy.random.RandomState(seed).shuffle(paths)
        if labels is not None:
            numpy.random.RandomState(seed).shuffle(labels)
    return paths, labels, class_names


def _split(paths, labels, validation_split, subset, verbose):
    """Keras's split: the last ``int(validation_split * N)`` files are the validation subset."""
    if not validation_split:
        return paths, labels
    validation_count = int(validation_split * len(paths))
    if subset == "training":
        if verbose:
            print(f"Using {len(paths) - validation_count} files for training.")
        kept = slice(0, len(paths) - validation_count)
    else:
        if verbose:
            print(f"Using {validation_count} files for validation.")
        kept = slice(len(paths) - validation_count, len(paths))
    return paths[kept], None if labels is None else labels[kept]


def folder_datasets(where, noun, formats, make, directory, labels, label_mode, class_names, shuffle, seed,
                    validation_split, subset, follow_links, verbose, keep=None):
    """The rest of a folder reader once its arguments are checked: list, label, split and build.

    ``make(paths, labels, class_names, label_mode, shuffle, seed)`` builds one subset's dataset;
    ``keep`` is :func:`index_directory`'s (None: every listed file). Returns the dataset, or
    ``(training, validation)`` with ``subset="both"`` (the validation one unshuffled, as Keras's).
    Shared by the image, text and audio readers.
    """
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    if seed is None:
        seed = int(backend.rng().integers(10 ** 6))  # Keras draws one too; here from course_lib's generator
    paths, found, names = index_directory(
        directory, labels, class_names=class_names, shuffle=shuffle, seed=seed, follow_links=follow_links,
        verbose=verbose, formats=formats, keep=keep, where=where, noun=noun,
    )
    if label_mode == "binary" and len(names) != 2:
        raise ValueError(f"{where}: label_mode='binary' needs exactly 2 classes. Received: class_names={names}")
    out_of_range = found is not None and len(found) and not 0 <= found.min() <= found.max() < len(names)
    if label_mode == "categorical" and out_of_range:
        raise ValueError(
            f"{where}: label_mode='categorical' needs labels from 0 to {len(names) - 1} (one per class). "
            f"Received labels from {found.min()} to {found.max()}"
        )

    def one(subset_name, shuffled):
        subset_paths, subset_labels = _split(paths, found, validation_split, subset_name, verbose)
        if not subset_paths:
            part = "" if subset_name is None else f" for the {subset_name} subset"
            raise ValueError(f"{where}: no {noun} files{part} in {directory!r}. Allowed format: {', '.join(formats)}")
        return make(subset_paths, subset_labels, names, label_mode, shuffled, seed)

    if subset == "both":
        return one("training", shuffle), one("validation", False)
    return one(subset, shuffle)


# ---------------------------------------------------------------- the datasets
class FolderDataset(Dataset):
    """Batches of files read from class folders, in Keras's file order; subclasses say how a file is read.

    ``dataset[i]`` is batch ``i`` of the current epoch's order: ``(samples,
    labels)``, or ``samples`` when there are no labels; with ``batch_size=None``
    it is one sample instead. ``on_epoch_end`` reshuffles when ``shuffle``.
    A subclass defines ``_read(paths)``: the batch of samples those files hold.
    """

    def __init__(self, file_paths, labels, class_names, label_mode, batch_size, shuffle, seed, **kwargs):
        super().__init__(**kwargs)
        self.file_paths = list(file_paths)
        self.labels = labels
        self.class_names = class_names
        self.label_mode = label_mode
        self.batch_size = batch_size
        self.shuffle = shuffle
        self._random = numpy.random.RandomState(seed)
        self.order = numpy.arange(len(self.file_paths))

    def __len__(self):
        if self.batch_size is None:
            return len(self.file_paths)
        return math.ceil(len(self.file_paths) / self.batch_size)

    def on_epoch_end(self):
        """A new order of the files for the next epoch (when ``shuffle``)."""
        if self.shuffle:
            self.order = self._random.permutation(len(self.file_paths))

    def __getitem__(self, index):
        if not _is_int(index) or not 0 <= index < len(self):
            raise IndexError(
                f"{type(self).__name__}: index must be an int from 0 to {len(self) - 1}. Received: {index!r}")
        size = 1 if self.batch_size is None else self.batch_size
        chosen = self.order[index * size:(index + 1) * size]
        samples = self._read([self.file_paths[n] for n in chosen])
        labels = None if self.labels is None else self._encode(self.labels[chosen])
        if self.batch_size is None:
            samples, labels = samples[0], None if labels is None else labels[0]
        return samples if labels is None else (samples, labels)

    def _encode(self, labels):
        if self.label_mode == "binary":
            return labels.astype("float32")[:, None]
        if self.label_mode == "categorical":
            one_hot = numpy.zeros((len(labels), len(self.class_names)), dtype="float32")
            one_hot[numpy.arange(len(labels)), labels] = 1
            return one_hot
        return labels.astype("int32")


# ---------------------------------------------------------------- the dataset
class ImageFolderDataset(FolderDataset):
    """Batches of images read from files: what :func:`image_dataset_from_directory` returns.

    ``dataset[i]`` is batch ``i`` of the current epoch's order: ``(images,
    labels)``, or ``images`` when there are no labels; with ``batch_size=None``
    it is one sample instead. ``on_epoch_end`` reshuffles when ``shuffle``.

    Attributes:
        file_paths: the files, in Keras's order (shuffled by the seed when ``shuffle``).
        class_names: the class names (label order), or None without labels.
        labels: the label of every file (int32), or None.
        batch_size, image_size, num_channels, interpolation, label_mode.
    """

    def __init__(self, file_paths, labels, class_names, label_mode, batch_size, image_size, num_channels,
                 interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio, data_format, shuffle, seed, **kwargs):
        super().__init__(file_paths, labels, class_names, label_mode, batch_size, shuffle, seed, **kwargs)
        self.image_size = image_size
        self.num_channels = num_channels
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = crop_to_aspect_ratio
        self.pad_to_aspect_ratio = pad_to_aspect_ratio
        self.data_format = data_format

    def _read(self, paths):
        return self._images(paths)

    def _decode(self, path):
        """The file's uint8 pixels ``(H, W, channels)``, converted as TensorFlow's decoders convert them."""
        image = image_utils._open("image_dataset_from_directory", path)
        if self.num_channels == 1:
            grey = _tensorflow_grey(image)
            if grey is not None:
                return grey[:, :, None]
            image = image if image.mode == "L" else image.convert("L")
        else:
            wanted = "RGB" if self.num_channels == 3 else "RGBA"
            image = image if image.mode == wanted else image.convert(wanted)
        return numpy.asarray(image, dtype="uint8").reshape(image.size[1], image.size[0], self.num_channels)

    def _images(self, paths):
        """The batch's images, resized; the resize runs once per group of files of the same size."""
        pixels = [self._decode(path) for path in paths]
        dtype = "uint8" if self.interpolation == "nearest" else "float32"
        out = numpy.empty((len(pixels),) + tuple(self.image_size) + (self.num_channels,), dtype=dtype)
        shapes = {}
        for position, image in enumerate(pixels):
            shapes.setdefault(image.shape, []).append(position)
        for shape, positions in shapes.items():
            group = numpy.stack([pixels[n] for n in positions]).astype(dtype, copy=False)
            if shape[:2] != tuple(self.image_size):
                group = self._resize(group)
            out[positions] = group
        return out.transpose(0, 3, 1, 2) if self.data_format == "channels_first" else out

    def _resize(self, images):
        from course_lib.ops.image import resize

        if not self.pad_to_aspect_ratio:
            return backend.to_numpy(resize(images, self.image_size, interpolation=self.interpolation,
                                           crop_to_aspect_ratio=self.crop_to_aspect_ratio))
        # tf.image.resize_with_pad: shrink to fit inside the target keeping the aspect ratio, then pad with
        # zeros around it; its sizes are computed in float32.
        height, width = (numpy.float32(side) for side in images.shape[1:3])
        target_height, target_width = (numpy.float32(side) for side in self.image_size)
        ratio = max(width / target_width, height / target_height)
        inner_height, inner_width = height / ratio, width / ratio
        top = max(0, int(numpy.floor((target_height - inner_height) / numpy.float32(2))))
        left = max(0, int(numpy.floor((target_width - inner_width) / numpy.float32(2))))
        inner = (int(numpy.floor(inner_height)), int(numpy.floor(inner_width)))
        fitted = backend.to_numpy(resize(images, inner, interpolation=self.interpolation))
        padded = numpy.zeros((len(images),) + tuple(self.image_size) + images.shape[3:], dtype=fitted.dtype)
        padded[:, top:top + inner[0], left:left + inner[1]] = fitted
        return padded


def _tensorflow_grey(image):
    """A colour PNG as one grey channel the way TensorFlow (libpng) converts it, else None.

    libpng's ``rgb_to_gray`` with TensorFlow's coefficients 0.299/0.587 works
    in 15-bit fixed point and truncates: ``(9797 R + 19234 G + 3737 B) >> 15``
    (Pillow's ``convert("L")`` rounds other coefficients: a grey level apart on
    about half the pixels). Other formats are left to Pillow.
    """
    if image.format != "PNG" or image.mode in ("L", "I", "I;16"):
        return None
    if image.mode == "LA":
        return numpy.asarray(image.getchannel("L"), dtype="uint8")
    rgb = numpy.asarray(image.convert("RGB"), dtype="int64")
    return ((9797 * rgb[..., 0] + 19234 * rgb[..., 1] + 3737 * rgb[..., 2]) >> 15).astype("uint8")


# ---------------------------------------------------------------- the function
def _check_arguments(directory, labels, label_mode, class_names, color_mode, batch_size, image_size, shuffle, seed,
                     validation_split, subset, interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio):
    _check_folder_arguments(_WHERE, "image", directory, labels, label_mode, class_names)
    if color_mode not in _CHANNELS:
        raise ValueError(f"{_WHERE}: color_mode must be one of {tuple(_CHANNELS)}. Received: color_mode={color_mode!r}")
    if batch_size is not None and (not _is_int(batch_size) or batch_size < 1):
        raise ValueError(f"{_WHERE}: batch_size must be None or a positive int. Received: batch_size={batch_size!r}")
    if _is_int(image_size):
        image_size = (image_size, image_size)
    image_size = image_utils.check_target_size(_WHERE, image_size, name="image_size")
    if not isinstance(interpolation, str) or interpolation.lower() not in INTERPOLATIONS:
        raise ValueError(
            f"{_WHERE}: interpolation must be one of {INTERPOLATIONS} (course_lib has no 'gaussian' or "
            f"'mitchellcubic'). Received: interpolation={interpolation!r}"
        )
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError(f"{_WHERE}: set at most one of crop_to_aspect_ratio and pad_to_aspect_ratio.")
    _check_split_arguments(_WHERE, validation_split, subset, shuffle, seed)
    return image_size, interpolation.lower()


def _check_folder_arguments(where, noun, directory, labels, label_mode, class_names):
    """Keras's checks of the folder, ``labels``, ``label_mode`` and ``class_names`` (shared by the folder readers)."""
    if not isinstance(directory, (str, os.PathLike)) or not os.path.isdir(directory):
        raise ValueError(f"{where}: directory must be an existing folder. Received: {directory!r}")
    if labels not in ("inferred", None):
        if not isinstance(labels, (list, tuple)):
            raise ValueError(
                f"{where}: labels must be 'inferred' (from the sub-folders), None (no labels) or a list of integer "
                f"labels, one per {noun} file in sorted order. Received: labels={labels!r}"
            )
        if class_names:
            raise ValueError(f"{where}: class_names may only be given with labels='inferred'. Received: labels={labels!r}")
    if label_mode not in ("int", "categorical", "binary", None):
        raise ValueError(
            f"{where}: label_mode must be 'int', 'categorical', 'binary' or None. Received: label_mode={label_mode!r}"
        )


def _check_split_arguments(where, validation_split, subset, shuffle, seed):
    """Keras's checks of ``validation_split``, ``subset`` and ``seed`` (shared by the folder readers)."""
    if validation_split is not None and (isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real)):
        raise ValueError(f"{where}: validation_split must be None or a number in (0, 1). Received: {validation_split!r}")
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"{where}: validation_split must be between 0 and 1. Received: validation_split={validation_split!r}")
    if bool(validation_split) != bool(subset):
        raise ValueError(
            f"{where}: validation_split and subset go together: pass both or neither. "
            f"Received: validation_split={validation_split!r}, subset={subset!r}"
        )
    if subset not in ("training", "validation", "both", None):
        raise ValueError(f"{where}: subset must be 'training', 'validation' or 'both'. Received: subset={subset!r}")
    if validation_split and shuffle and seed is None:
        raise ValueError(
            f"{where}: with validation_split and shuffle=True pass a seed, so that the training and validation "
            "subsets (made by two calls) do not overlap."
        )
    if seed is not None and (not _is_int(seed) or seed < 0):
        raise ValueError(f"{where}: seed must be None or a non-negative int. Received: seed={seed!r}")


def image_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None, color_mode="rgb",
                                 batch_size=32, image_size=(256, 256), shuffle=True, seed=None, validation_split=None,
                                 subset=None, interpolation="bilinear", follow_links=False, crop_to_aspect_ratio=False,
                                 pad_to_aspect_ratio=False, data_format=None, verbose=True):
    """A dataset of ``(images, labels)`` batches from a folder of class folders: Keras's function.

    Args:
        directory: the folder; with ``labels="inferred"`` one sub-folder per class.
        labels: ``"inferred"`` (from the sub-folders), None, or a list of int
            labels, one per image file in the sorted order of ``os.walk``.
        label_mode: ``"int"``, ``"categorical"``, ``"binary"`` (two classes) or None.
        class_names: with ``labels="inferred"``, the sub-folders to use, in label order.
        color_mode: ``"rgb"``, ``"rgba"`` or ``"grayscale"`` (3, 4 or 1 channels).
        batch_size: images per batch, or None for single samples.
        image_size: ``(height, width)`` (or one int) every image is resized to.
        shuffle: shuffle the files (by ``seed``) and reshuffle every epoch; else sorted order.
        seed: the shuffling seed (required with ``validation_split`` and ``shuffle``).
        validation_split: the fraction of files kept for validation (the last ones).
        subset: ``"training"``, ``"validation"`` or ``"both"`` (with ``validation_split``).
        interpolation: the resize method (TensorFlow's): ``"bilinear"``,
            ``"nearest"``, ``"bicubic"``, ``"area"``, ``"lanczos3"``, ``"lanczos5"``.
        follow_links: follow symbolic links to folders.
        crop_to_aspect_ratio: resize the largest centred crop of the target's aspect ratio.
        pad_to_aspect_ratio: pad to the target's aspect ratio (black) before resizing.
        data_format: ``"channels_last"`` (None) or ``"channels_first"``.
        verbose: print how many files and classes were found.

    Returns:
        An :class:`ImageFolderDataset`, or ``(training, validation)`` with ``subset="both"``.
    """
    image_size, interpolation = _check_arguments(
        directory, labels, label_mode, class_names, color_mode, batch_size, image_size, shuffle, seed,
        validation_split, subset, interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio,
    )
    data_format = image_utils.standardize_data_format(_WHERE, data_format)

    def make(paths, found, names, subset_label_mode, shuffled, seed):
        return ImageFolderDataset(paths, found, names, subset_label_mode, batch_size, image_size, _CHANNELS[color_mode],
                                  interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio, data_format, shuffled, seed)

    return folder_datasets(_WHERE, "image", ALLOWLIST_FORMATS, make, directory, labels, label_mode, class_names,
                           shuffle, seed, validation_split, subset, follow_links, verbose,
                           keep=image_utils.readable_image)
