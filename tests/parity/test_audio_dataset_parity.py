"""``audio_dataset_from_directory`` against Keras's on a folder of WAV files the test writes."""
import wave

import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity

# (path, frames, channels): lengths differ, so padded batches pad; 'deep' is walked too.
FILES = [("dog/a.wav", 7, 1), ("dog/b.WAV", 3, 1), ("dog/deep/c.wav", 12, 1), ("cat/d.wav", 1, 1),
         ("cat/e.wav", 9, 1), ("cat/f.wav", 5, 1), ("cat/notes.txt", 0, 0), ("bird/g.wav", 4, 1),
         (".hidden/h.wav", 2, 1)]


def write_wav(path, samples, rate=16000):
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(samples.shape[1])
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(samples.astype("<i2").tobytes())


@pytest.fixture
def sounds(tmp_path):
    generator = np.random.default_rng(3)
    root = tmp_path / "sounds"
    for name, frames, channels in FILES:
        if name.endswith(".txt"):
            (root / name).write_text("not audio")
            continue
        samples = generator.integers(-32768, 32768, (frames, channels))
        samples[0, 0] = -32768  # the extremes of 16 bits: -1.0 and the largest value below 1
        samples[-1, -1] = 32767
        write_wav(root / name, samples)
    return root


def _batches(dataset, ours):
    batches = [dataset[i] for i in range(len(dataset))] if ours else list(dataset)
    return [tuple(np.asarray(part) for part in batch) if isinstance(batch, tuple) else (np.asarray(batch),)
            for batch in batches]


def _same_batches(theirs, ours):
    expected, received = _batches(theirs, False), _batches(ours, True)
    assert len(received) == len(expected) > 0
    for their_batch, our_batch in zip(expected, received):
        for a, b in zip(their_batch, our_batch, strict=True):
            assert b.dtype == a.dtype and b.shape == a.shape
            np.testing.assert_array_equal(b, a)


@pytest.mark.parametrize("options", [
    {},
    {"batch_size": 3},
    {"label_mode": "categorical", "batch_size": 2},
    {"label_mode": "binary", "class_names": ["dog", "cat"], "batch_size": 4},
    {"labels": None, "batch_size": 5},
    {"label_mode": None, "output_sequence_length": 6},
    {"output_sequence_length": 4, "batch_size": 3},
    {"labels": [2, 0, 1, 1, 0, 2, 2, 1], "label_mode": "categorical", "batch_size": 3},  # .hidden is walked
    {"output_sequence_length": 0, "batch_size": 4},
])
def test_audio_batches_match_keras(sounds, options, capsys):
    theirs = keras.utils.audio_dataset_from_directory(str(sounds), shuffle=False, **options)
    printed = capsys.readouterr().out
    ours = cl.utils.audio_dataset_from_directory(str(sounds), shuffle=False, **options)
    assert capsys.readouterr().out == printed
    assert ours.class_names == theirs.class_names
    _same_batches(theirs, ours)


def test_unbatched_audio_matches_keras(sounds):
    theirs = keras.utils.audio_dataset_from_directory(str(sounds), shuffle=False, batch_size=None, verbose=False)
    ours = cl.utils.audio_dataset_from_directory(str(sounds), shuffle=False, batch_size=None, verbose=False)
    _same_batches(theirs, ours)


def test_ragged_batches_hold_keras_rows(sounds):
    options = dict(shuffle=False, batch_size=3, ragged=True, verbose=False)
    theirs = list(keras.utils.audio_dataset_from_directory(str(sounds), **options))
    ours = cl.utils.audio_dataset_from_directory(str(sounds), **options)
    assert len(ours) == len(theirs)
    for (their_audio, their_labels), (our_audio, our_labels) in zip(theirs, (ours[i] for i in range(len(ours)))):
        assert our_audio.dtype == object and len(our_audio) == their_audio.shape[0]
        for their_row, our_row in zip(their_audio, our_audio):  # a RaggedTensor row: one file, unpadded
            np.testing.assert_array_equal(our_row, their_row.numpy())
        np.testing.assert_array_equal(our_labels, their_labels.numpy())


def test_stereo_files_keep_their_channels(tmp_path):
    generator = np.random.default_rng(4)
    for name, frames in (("left/a.wav", 5), ("left/b.wav", 8), ("right/c.wav", 2)):
        write_wav(tmp_path / name, generator.integers(-32768, 32768, (frames, 2)))
    options = dict(shuffle=False, batch_size=2, verbose=False)
    _same_batches(keras.utils.audio_dataset_from_directory(str(tmp_path), **options),
                  cl.utils.audio_dataset_from_directory(str(tmp_path), **options))


def test_shuffled_subsets_hold_keras_files(sounds, capsys):
    options = dict(seed=11, validation_split=0.3, batch_size=2, output_sequence_length=12)
    their_train, their_val = keras.utils.audio_dataset_from_directory(str(sounds), subset="both", **options)
    printed = capsys.readouterr().out
    our_train, our_val = cl.utils.audio_dataset_from_directory(str(sounds), subset="both", **options)
    assert capsys.readouterr().out == printed

    def rows(batches):
        return [(tuple(audio.ravel().tolist()), int(label)) for x, y in batches for audio, label in zip(x, y)]

    # Keras's validation subset is not reshuffled: the same order; the training one the same files.
    assert rows(_batches(our_val, True)) == rows(_batches(their_val, False))
    assert sorted(rows(_batches(our_train, True))) == sorted(rows(_batches(their_train, False)))


def test_fit_on_an_audio_folder(sounds):
    dataset = cl.utils.audio_dataset_from_directory(str(sounds), batch_size=4, output_sequence_length=12,
                                                    seed=0, verbose=False)
    model = cl.Sequential([cl.Input((12, 1)), cl.layers.Flatten(), cl.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(dataset, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.all(np.isfinite(history.history["loss"]))


@pytest.mark.parametrize("options", [
    {"labels": "folders"}, {"label_mode": "sparse"}, {"labels": [0, 1]}, {"label_mode": "binary"},
    {"validation_split": 0.2}, {"subset": "all", "validation_split": 0.2, "seed": 1},
    {"class_names": ["dog", "fish"]}, {"ragged": True, "output_sequence_length": 5},
    {"sampling_rate": 8000.0}, {"sampling_rate": -1},
])
def test_audio_reader_refuses_what_keras_refuses(sounds, options):
    with pytest.raises(ValueError):
        list(keras.utils.audio_dataset_from_directory(str(sounds), verbose=False, **options))
    with pytest.raises(ValueError, match="audio_dataset_from_directory: "):
        cl.utils.audio_dataset_from_directory(str(sounds), verbose=False, **options)


@pytest.mark.parametrize("rate_out", [8000, 22050, 44100])
def test_sampling_rate_resamples_a_tone_to_the_new_rate(tmp_path, rate_out):
    """A 440 Hz tone recorded at 16 kHz, read at another rate: the same tone, sampled at the new rate.

    Keras needs TensorFlow I/O for this (where it is not installed, it raises an ImportError), so the
    oracle is the tone itself. Away from the ends (where the filter sees zeros beyond the file) the
    resampled values are the tone's within 1e-3 of its amplitude (0.5); 16-bit rounding adds 2e-5.
    """
    rate_in, frames = 16000, 1600
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(frames) / rate_in)
    write_wav(tmp_path / "tones" / "a.wav", np.round(tone * 32768)[:, None], rate=rate_in)
    for options in ({"output_sequence_length": frames}, {}):
        dataset = cl.utils.audio_dataset_from_directory(str(tmp_path / "tones"), sampling_rate=rate_out,
                                                        batch_size=None, labels=None, verbose=False, **options)
        audio = dataset[0]
        assert audio.dtype == np.float32 and audio.shape == (-(-frames * rate_out // rate_in), 1)
        expected = 0.5 * np.sin(2 * np.pi * 440 * np.arange(len(audio)) / rate_out)
        inner = slice(len(audio) // 8, -len(audio) // 8)
        np.testing.assert_allclose(audio[inner, 0], expected[inner], atol=1e-3)
    # Cut first at the file's own rate, then resampled, as Keras orders the two.
    short = cl.utils.audio_dataset_from_directory(str(tmp_path / "tones"), sampling_rate=rate_out, batch_size=None,
                                                  labels=None, verbose=False, output_sequence_length=800)[0]
    assert short.shape == (-(-800 * rate_out // rate_in), 1)
    same = cl.utils.audio_dataset_from_directory(str(tmp_path / "tones"), sampling_rate=rate_in, batch_size=None,
                                                 labels=None, verbose=False)[0]
    np.testing.assert_array_equal(same, cl.utils.audio_dataset_from_directory(
        str(tmp_path / "tones"), batch_size=None, labels=None, verbose=False)[0])
    try:
        import tensorflow_io  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="tensorflow_io"):
            keras.utils.audio_dataset_from_directory(str(tmp_path / "tones"), sampling_rate=rate_out, verbose=False)


def test_what_course_lib_cannot_read_is_said(tmp_path):
    folder = tmp_path / "eight_bit" / "a"
    folder.mkdir(parents=True)
    with wave.open(str(folder / "x.wav"), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(1)
        writer.setframerate(8000)
        writer.writeframes(bytes(4))
    with pytest.raises(tf.errors.InvalidArgumentError, match="16-bit"):
        list(keras.utils.audio_dataset_from_directory(str(tmp_path / "eight_bit"), verbose=False))
    ours = cl.utils.audio_dataset_from_directory(str(tmp_path / "eight_bit"), verbose=False)
    with pytest.raises(ValueError, match="only 16-bit WAV files.*x.wav' with 8-bit samples"):
        ours[0]
    (folder / "x.wav").write_bytes(b"not a wav file")
    with pytest.raises(ValueError, match="is not a PCM WAV file"):
        ours[0]
