"""``text_dataset_from_directory``: Keras 3's reader of text folders, as a course_lib PyDataset.

Keras returns a ``tf.data.Dataset`` of string tensors; course_lib returns a
:class:`TextFolderDataset`, a :class:`~course_lib.utils.dataset_ops.Dataset` (a PyDataset with the
tf.data methods tutorials call: ``take``, ``map``, ``cache``...) of
``(texts, labels)`` batches, ``texts`` a NumPy array of Python ``str``
(dtype ``object``). What is the same as Keras:

* the files: the ``.txt`` files (case-insensitive), listed as
  :func:`~course_lib.utils.image_dataset_from_directory` lists images (one
  sub-folder per class, sorted, hidden ones skipped, each walked recursively in
  sorted order), by the same ``index_directory``; ``file_paths`` in Keras's
  order, shuffled (``shuffle=True``) by ``numpy.random.RandomState(seed)``
  exactly as Keras shuffles them;
* ``validation_split``: the LAST fraction of the (shuffled) files is the
  validation subset; ``subset="both"`` returns ``(training, validation)``;
* ``max_length``: the first ``max_length`` BYTES of each file
  (``tf.strings.substr``'s unit), then decoded;
* the labels: ``"int"`` (int32, ``(N,)``), ``"categorical"`` (float32 one-hot),
  ``"binary"`` (float32, ``(N, 1)``), or None (texts alone); ``class_names``;
  the printed ``Found N files belonging to K classes.``

What differs: the texts are ``str`` decoded from UTF-8 (TensorFlow's strings
are the raw bytes: ``theirs.numpy()[i].decode()`` equals ``ours[i]``); bytes
that are not UTF-8 become U+FFFD, and a character cut in two by
``max_length`` is left out. TensorFlow shuffles the training files again
every epoch with a buffer of ``8 * batch_size`` (a local shuffle on its own
random stream); here every epoch's order is a full shuffle drawn from the
seed, the first one being ``file_paths``' order, so with ``shuffle=True`` the
batches hold the same texts as Keras's but not in the same order.

Host code by design, as the image reader: it reads files and hands NumPy
arrays to the model (strings have no place on a GPU).
"""
import codecs

import numpy

from course_lib.utils import image_dataset

__all__ = ["TextFolderDataset", "text_dataset_from_directory"]

ALLOWLIST_FORMATS = (".txt",)
"""The file extensions read (case-insensitive), Keras's list."""
_WHERE = "text_dataset_from_directory"


def read_text(path, max_length=None):
    """The file's text: its first ``max_length`` bytes (all when None), decoded from UTF-8.

    Invalid bytes become U+FFFD; an incomplete character at the end of the cut is dropped.
    """
    with open(path, "rb") as handle:
        raw = handle.read() if max_length is None else handle.read(max_length)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    return decoder.decode(raw, final=max_length is None)


class TextFolderDataset(image_dataset.FolderDataset):
    """Batches of texts read from files: what :func:`text_dataset_from_directory` returns.

    ``dataset[i]`` is batch ``i`` of the current epoch's order: ``(texts,
    labels)``, or ``texts`` when there are no labels; ``texts`` is a NumPy
    ``object`` array of ``str``. With ``batch_size=None`` it is one sample
    instead (a ``str`` and its label). ``on_epoch_end`` reshuffles when ``shuffle``.

    Attributes:
        file_paths: the files, in Keras's order (shuffled by the seed when ``shuffle``).
        class_names: the class names (label order), or None without labels.
        labels: the label of every file (int32), or None.
        batch_size, max_length, label_mode.
    """

    def __init__(self, file_paths, labels, class_names, label_mode, batch_size, max_length, shuffle, seed, **kwargs):
        super().__init__(file_paths, labels, class_names, label_mode, batch_size, shuffle, seed, **kwargs)
        self.max_length = max_length

    def _read(self, paths):
        texts = numpy.empty(len(paths), dtype=object)
        texts[:] = [read_text(path, self.max_length) for path in paths]
        return texts


def _check_arguments(directory, labels, label_mode, class_names, batch_size, max_length, shuffle, seed,
                     validation_split, subset, format):
    image_dataset._check_folder_arguments(_WHERE, "text", directory, labels, label_mode, class_names)
    if format not in ("tf", "grain"):
        raise ValueError(f"{_WHERE}: format must be 'tf' or 'grain'. Received: format={format!r}")
    if batch_size is not None and (not image_dataset._is_int(batch_size) or batch_size < 1):
        raise ValueError(f"{_WHERE}: batch_size must be None or a positive int. Received: batch_size={batch_size!r}")
    if max_length is not None and (not image_dataset._is_int(max_length) or max_length < 0):
        raise ValueError(f"{_WHERE}: max_length must be None or an int >= 0. Received: max_length={max_length!r}")
    image_dataset._check_split_arguments(_WHERE, validation_split, subset, shuffle, seed)


def text_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None, batch_size=32,
                                max_length=None, shuffle=True, seed=None, validation_split=None, subset=None,
                                follow_links=False, format="tf", verbose=True):
    """A dataset of ``(texts, labels)`` batches from a folder of class folders of ``.txt`` files: Keras's function.

    Args:
        directory: the folder; with ``labels="inferred"`` one sub-folder per class.
        labels: ``"inferred"`` (from the sub-folders), None, or a list of int
            labels, one per text file in the sorted order of ``os.walk``.
        label_mode: ``"int"``, ``"categorical"``, ``"binary"`` (two classes) or None.
        class_names: with ``labels="inferred"``, the sub-folders to use, in label order.
        batch_size: texts per batch, or None for single samples.
        max_length: keep at most this many bytes of each file (None: all).
        shuffle: shuffle the files (by ``seed``) and reshuffle every epoch; else sorted order.
        seed: the shuffling seed (required with ``validation_split`` and ``shuffle``).
        validation_split: the fraction of files kept for validation (the last ones).
        subset: ``"training"``, ``"validation"`` or ``"both"`` (with ``validation_split``).
        follow_links: follow symbolic links to folders.
        format: ``"tf"`` or ``"grain"``, accepted as Keras accepts them; course_lib
            returns the same :class:`TextFolderDataset` for both.
        verbose: print how many files and classes were found.

    Returns:
        A :class:`TextFolderDataset`, or ``(training, validation)`` with ``subset="both"``.
    """
    _check_arguments(directory, labels, label_mode, class_names, batch_size, max_length, shuffle, seed,
                     validation_split, subset, format)
    def make(paths, found, names, subset_label_mode, shuffled, seed):
        return TextFolderDataset(paths, found, names, subset_label_mode, batch_size, max_length, shuffled, seed)

    return image_dataset.folder_datasets(_WHERE, "text", ALLOWLIST_FORMATS, make, directory, labels, label_mode,
                                         class_names, shuffle, seed, validation_split, subset, follow_links, verbose)
