"""``audio_dataset_from_directory``: Keras 3's reader of folders of WAV files, as a course_lib PyDataset.

Keras returns a ``tf.data.Dataset``; course_lib returns an :class:`AudioFolderDataset`, a
:class:`~course_lib.utils.dataset_ops.Dataset` of ``(audio, labels)`` batches. What is the same
as Keras:

* the files: the ``.wav`` files (case-insensitive), listed, labelled, shuffled and split as
  :func:`~course_lib.utils.text_dataset_from_directory` lists texts (Keras's ``index_directory``);
* the samples: 16-bit PCM, read as TensorFlow's ``decode_wav`` reads it: float32 in [-1, 1)
  (each integer over 32768), shape ``(frames, channels)``; other sample widths are refused;
* the batches: each batch zero-padded at the end to its longest file (Keras's ``padded_batch``),
  or, with ``output_sequence_length``, every file cut or zero-padded to that many frames;
* the labels, ``class_names`` and the printed counts, as for the other folder readers.

What differs: with ``ragged=True`` a batch is a NumPy ``object`` array of the files' own
``(frames, channels)`` arrays, where Keras gives a ``tf.RaggedTensor`` (``theirs[i].numpy()``
equals ``ours[i]``); ``sampling_rate`` resamples with SciPy's polyphase filter
(``scipy.signal.resample_poly``, a Kaiser-windowed low-pass), where Keras needs TensorFlow I/O
(without it Keras raises an ImportError) and its own filter, so resampled values agree with Keras's
only as two good low-pass filters agree; as in Keras, a file is first cut or padded to
``output_sequence_length`` frames at its own rate, then resampled. And, as for texts, a shuffled
training set holds Keras's files in another order.

Host code by design, as the other readers: it reads files and hands NumPy arrays to the model.
"""
import math
import wave

import numpy

from course_lib.utils import image_dataset

__all__ = ["AudioFolderDataset", "audio_dataset_from_directory"]

ALLOWED_FORMATS = (".wav",)
"""The file extensions read (case-insensitive), Keras's list."""
_WHERE = "audio_dataset_from_directory"


def read_wav(path, output_sequence_length=None, sampling_rate=None):
    """The file's samples as float32 ``(frames, channels)``, as TensorFlow's ``decode_wav`` gives them.

    Args:
        path: a 16-bit PCM WAV file.
        output_sequence_length: cut or zero-pad to this many frames (None: all of them).
        sampling_rate: None, or the rate (samples per second) to resample to, after the cut.

    Raises:
        ValueError: a file that is not a WAV file, or whose samples are not 16-bit.
    """
    try:
        with wave.open(str(path), "rb") as reader:
            width, channels, rate = reader.getsampwidth(), reader.getnchannels(), reader.getframerate()
            frames = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as error:
        raise ValueError(f"{_WHERE}: {str(path)!r} is not a PCM WAV file that can be read: {error}") from None
    if width != 2:
        raise ValueError(f"{_WHERE}: only 16-bit WAV files can be read, as TensorFlow's decode_wav. "
                         f"Received: {str(path)!r} with {8 * width}-bit samples")
    samples = numpy.frombuffer(frames, dtype="<i2").reshape(-1, channels)
    audio = samples.astype("float32") / numpy.float32(32768)
    if output_sequence_length is not None:
        fitted = numpy.zeros((output_sequence_length, channels), dtype="float32")
        kept = min(output_sequence_length, len(audio))
        fitted[:kept] = audio[:kept]
        audio = fitted
    return audio if sampling_rate is None else resample(audio, rate, sampling_rate)


def resample(audio, rate_in, rate_out):
    """``(frames, channels)`` samples at ``rate_in`` per second, at ``rate_out`` instead.

    SciPy's polyphase resampling: up by ``rate_out / g``, a Kaiser-windowed low-pass filter at the
    lower of the two Nyquist frequencies, down by ``rate_in / g`` (``g`` their greatest common
    divisor); ``ceil(frames * rate_out / rate_in)`` frames come out.
    """
    from scipy import signal

    if rate_in == rate_out or len(audio) == 0:
        return audio
    common = math.gcd(rate_in, rate_out)
    return signal.resample_poly(audio, rate_out // common, rate_in // common, axis=0).astype("float32")


class AudioFolderDataset(image_dataset.FolderDataset):
    """Batches of audio read from WAV files: what :func:`audio_dataset_from_directory` returns.

    ``dataset[i]`` is batch ``i`` of the current epoch's order: ``(audio, labels)``, or ``audio``
    when there are no labels. ``audio`` is float32 ``(batch, frames, channels)``, padded with
    zeros to the batch's longest file (or to ``output_sequence_length``); with ``ragged`` an
    ``object`` array of each file's own ``(frames, channels)`` array. With ``batch_size=None``
    it is one sample instead. ``on_epoch_end`` reshuffles when ``shuffle``.

    Attributes:
        file_paths, class_names, labels, batch_size, label_mode: as the other folder datasets.
        output_sequence_length, ragged, sampling_rate.
    """

    def __init__(self, file_paths, labels, class_names, label_mode, batch_size, output_sequence_length, ragged,
                 shuffle, seed, sampling_rate=None, **kwargs):
        super().__init__(file_paths, labels, class_names, label_mode, batch_size, shuffle, seed, **kwargs)
        self.output_sequence_length = output_sequence_length
        self.ragged = ragged
        self.sampling_rate = sampling_rate

    def _read(self, paths):
        clips = [read_wav(path, self.output_sequence_length, self.sampling_rate) for path in paths]
        if self.ragged:
            batch = numpy.empty(len(clips), dtype=object)
            batch[:] = clips
            return batch
        channels = {clip.shape[1] for clip in clips}
        if len(channels) > 1:
            raise ValueError(f"{_WHERE}: the files of one batch must have the same number of channels. "
                             f"Received: {sorted(channels)} channels in {paths}")
        batch = numpy.zeros((len(clips), max(len(clip) for clip in clips), channels.pop()), dtype="float32")
        for row, clip in zip(batch, clips):
            row[:len(clip)] = clip
        return batch


def _check_arguments(directory, labels, label_mode, class_names, batch_size, sampling_rate, output_sequence_length,
                     ragged, shuffle, seed, validation_split, subset):
    image_dataset._check_folder_arguments(_WHERE, "audio", directory, labels, label_mode, class_names)
    if ragged and output_sequence_length is not None:
        raise ValueError(f"{_WHERE}: ragged and output_sequence_length cannot both be set. "
                         f"Received: ragged={ragged!r}, output_sequence_length={output_sequence_length!r}")
    if sampling_rate is not None and (not image_dataset._is_int(sampling_rate) or sampling_rate <= 0):
        raise ValueError(f"{_WHERE}: sampling_rate must be None or a positive int. "
                         f"Received: sampling_rate={sampling_rate!r}")
    if batch_size is not None and (not image_dataset._is_int(batch_size) or batch_size < 1):
        raise ValueError(f"{_WHERE}: batch_size must be None or a positive int. Received: batch_size={batch_size!r}")
    if output_sequence_length is not None and (
            not image_dataset._is_int(output_sequence_length) or output_sequence_length < 0):
        raise ValueError(f"{_WHERE}: output_sequence_length must be None or an int >= 0. "
                         f"Received: output_sequence_length={output_sequence_length!r}")
    image_dataset._check_split_arguments(_WHERE, validation_split, subset, shuffle, seed)


def audio_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None, batch_size=32,
                                 sampling_rate=None, output_sequence_length=None, ragged=False, shuffle=True,
                                 seed=None, validation_split=None, subset=None, follow_links=False, verbose=True):
    """A dataset of ``(audio, labels)`` batches from a folder of class folders of WAV files: Keras's function.

    Args:
        directory: the folder; with ``labels="inferred"`` one sub-folder per class.
        labels: ``"inferred"`` (from the sub-folders), None, or a list of int
            labels, one per WAV file in the sorted order of ``os.walk``.
        label_mode: ``"int"``, ``"categorical"``, ``"binary"`` (two classes) or None.
        class_names: with ``labels="inferred"``, the sub-folders to use, in label order.
        batch_size: files per batch, or None for single samples.
        sampling_rate: None (each file's own rate), or the rate every file is resampled to
            (SciPy's polyphase filter; see the module's notes).
        output_sequence_length: cut or zero-pad every file to this many frames (None: pad
            each batch to its longest file).
        ragged: give each batch as an ``object`` array of unpadded arrays.
        shuffle: shuffle the files (by ``seed``) and reshuffle every epoch; else sorted order.
        seed: the shuffling seed (required with ``validation_split`` and ``shuffle``).
        validation_split: the fraction of files kept for validation (the last ones).
        subset: ``"training"``, ``"validation"`` or ``"both"`` (with ``validation_split``).
        follow_links: follow symbolic links to folders.
        verbose: print how many files and classes were found.

    Returns:
        An :class:`AudioFolderDataset`, or ``(training, validation)`` with ``subset="both"``.
    """
    _check_arguments(directory, labels, label_mode, class_names, batch_size, sampling_rate, output_sequence_length,
                     ragged, shuffle, seed, validation_split, subset)

    def make(paths, found, names, subset_label_mode, shuffled, seed):
        return AudioFolderDataset(paths, found, names, subset_label_mode, batch_size, output_sequence_length,
                                  bool(ragged), shuffled, seed, sampling_rate=sampling_rate)

    return image_dataset.folder_datasets(
        _WHERE, "audio", ALLOWED_FORMATS, make, directory, labels, label_mode, class_names, shuffle, seed,
        validation_split, subset, follow_links, verbose)
