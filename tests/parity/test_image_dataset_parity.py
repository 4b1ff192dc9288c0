"""image_dataset_from_directory through Keras (a tf.data pipeline) and course_lib (a PyDataset).

On the same folder of PNG files: the printed lines, ``class_names``,
``file_paths`` (also shuffled: Keras shuffles the paths with
``numpy.random.RandomState(seed)``, so the order is deterministic), the
subsets, the batch shapes, dtypes, labels and pixel values with
``shuffle=False``. (With ``shuffle=True`` TensorFlow also reshuffles the
elements through a buffer of its own random stream; those batches are not
compared, only their files.)

Tolerances: decoding is exact for PNG (colour to grey by libpng's fixed-point
rule, which course_lib reproduces); resizing is course_lib.ops.image.resize,
held to TensorFlow's ``tf.image.resize`` by its own tests: bit for bit for
``bilinear`` and ``nearest``, and ``atol=1e-4`` on 0..255 pixels for ``area``,
``bicubic`` and ``lanczos3`` (TensorFlow's kernels accumulate in another
order; the worst seen here is 6.1e-5, four float32 steps at 255). ``pad_to_aspect_ratio`` is TensorFlow's
``resize_with_pad`` (sizes in float32, zeros around), reproduced exactly.
"""
import numpy as np
import pytest
from PIL import Image

import course_lib as cl
from course_lib.datasets.image_folder import make_digit_folder

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity

EXACT = ("bilinear", "nearest")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Colour digits of 18x24, plus a class of odd sizes (several resize groups in one batch) and a hidden folder."""
    root = make_digit_folder(tmp_path_factory.mktemp("dataset"), classes=(4, 2, 7), per_class=8, size=(18, 24),
                             color_mode="rgb", seed=2)
    generator = np.random.default_rng(0)
    (root / "9").mkdir()
    for n, (height, width) in enumerate([(18, 24), (30, 20), (9, 40), (18, 24), (30, 20)]):
        pixels = generator.integers(0, 256, (height, width, 3)).astype("uint8")
        Image.fromarray(pixels).save(root / "9" / f"odd_{n}.png")
    (root / ".cache").mkdir()
    Image.fromarray(np.zeros((4, 4, 3), "uint8")).save(root / ".cache" / "skip.png")
    return root


def _batches(dataset):
    return [tuple(part.numpy() for part in batch) if isinstance(batch, tuple) else (batch.numpy(),)
            for batch in dataset]


def _ours(dataset):
    return [batch if isinstance(batch, tuple) else (batch,) for batch in (dataset[i] for i in range(len(dataset)))]


def _same(theirs, ours, interpolation):
    assert ours.class_names == theirs.class_names
    assert ours.file_paths == theirs.file_paths
    expected, received = _batches(theirs), _ours(ours)
    assert len(received) == len(expected)
    for their_batch, our_batch in zip(expected, received):
        assert len(our_batch) == len(their_batch)
        for a, b in zip(their_batch, our_batch):
            assert b.shape == a.shape and b.dtype == a.dtype
            if interpolation in EXACT or a.dtype.kind != "f" or b.ndim < 3:
                np.testing.assert_array_equal(b, a)
            else:
                np.testing.assert_allclose(b, a, rtol=0, atol=1e-4)


@pytest.mark.parametrize("options", [
    {"image_size": (18, 24)},
    {"image_size": (12, 12), "label_mode": "categorical"},
    {"image_size": (25, 16), "interpolation": "nearest", "color_mode": "grayscale"},
    {"image_size": (10, 14), "interpolation": "area", "color_mode": "rgba", "label_mode": "binary",
     "class_names": ["7", "4"]},
    {"image_size": (16, 16), "interpolation": "bicubic", "crop_to_aspect_ratio": True, "label_mode": None},
    {"image_size": (15, 21), "interpolation": "lanczos3", "pad_to_aspect_ratio": True},
    {"image_size": (16, 16), "pad_to_aspect_ratio": True, "interpolation": "nearest"},
    {"image_size": 9, "batch_size": None, "crop_to_aspect_ratio": True},
])
def test_image_dataset_reads_what_keras_reads(folder, options, capsys):
    settings = {"batch_size": 7, "shuffle": False, **options}
    theirs = keras.utils.image_dataset_from_directory(folder, **settings)
    ours = cl.utils.image_dataset_from_directory(folder, **settings)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == printed[1] and printed[0].startswith("Found ")
    if settings["batch_size"] is None:
        expected = [tuple(part.numpy() for part in item) for item in theirs]
        received = [ours[i] for i in range(len(ours))]
        assert len(received) == len(expected) == 29
        for (a_image, a_label), (b_image, b_label) in zip(expected, received):
            assert b_image.shape == a_image.shape and b_label.shape == a_label.shape
            np.testing.assert_array_equal(b_image, a_image)
            assert b_label == a_label
        return
    _same(theirs, ours, settings.get("interpolation", "bilinear"))


def test_explicit_labels_and_no_labels_match_keras(folder):
    count = 30  # the whole tree, the hidden folder's file included (as Keras walks it)
    labels = [n % 3 for n in range(count)]
    for options in ({"labels": labels}, {"labels": labels, "label_mode": "categorical"}, {"labels": None}):
        settings = {"image_size": (8, 8), "shuffle": False, "batch_size": 10, "verbose": False, **options}
        theirs = keras.utils.image_dataset_from_directory(folder, **settings)
        ours = cl.utils.image_dataset_from_directory(folder, **settings)
        _same(theirs, ours, "bilinear")


def test_shuffled_files_subsets_and_messages_match_keras(folder, capsys):
    for seed in (0, 1, 1234):
        theirs = keras.utils.image_dataset_from_directory(folder, image_size=(6, 6), seed=seed, verbose=False)
        ours = cl.utils.image_dataset_from_directory(folder, image_size=(6, 6), seed=seed, verbose=False)
        assert ours.file_paths == theirs.file_paths
        expected = np.concatenate([labels.numpy() for _, labels in theirs])
        assert sorted(ours.labels.tolist()) == sorted(expected.tolist())
        assert ours.labels.tolist() == [ours.class_names.index(path.split("/")[-2]) for path in ours.file_paths]
    settings = {"image_size": (6, 6), "seed": 5, "validation_split": 0.3, "batch_size": 4}
    their_train, their_validation = keras.utils.image_dataset_from_directory(folder, subset="both", **settings)
    keras_lines = capsys.readouterr().out
    our_train, our_validation = cl.utils.image_dataset_from_directory(folder, subset="both", **settings)
    assert capsys.readouterr().out == keras_lines
    assert our_train.file_paths == their_train.file_paths
    # Keras does not reshuffle the validation subset, so its batches can be compared.
    _same(their_validation, our_validation, "bilinear")
    for subset in ("training", "validation"):
        theirs = keras.utils.image_dataset_from_directory(folder, subset=subset, verbose=False, **settings)
        ours = cl.utils.image_dataset_from_directory(folder, subset=subset, verbose=False, **settings)
        assert ours.file_paths == theirs.file_paths


def test_flow_from_directory_and_image_dataset_list_the_same_files(folder):
    """Keras's two readers agree on the class order; course_lib's two do too (the .gif/.ppm lists differ)."""
    ours = cl.utils.image_dataset_from_directory(folder, image_size=(8, 8), shuffle=False, verbose=False)
    iterator = cl.preprocessing.image.ImageDataGenerator().flow_from_directory(
        folder, target_size=(8, 8), shuffle=False, classes=ours.class_names)
    assert [str(folder / name) for name in iterator.filenames] == ours.file_paths
