"""Assignment 8 (data augmentation): its checkers, their references against Keras, and nbgrader on the notebooks.

The checkers must give full points to the references and to the solution
notebook's functions, exactly the points a planted bug leaves (an angle in
radians, no centring, the shear's sign, rows and columns swapped, rounding
down, the fill value ignored, files read unsorted ...) with a reason that
says what is wrong, and nothing to the release's stubs; the references must
be Keras's numbers (``apply_affine_transform`` with ``order=0``,
``flow_from_directory``); an answer that hands the work to Keras, to
course_lib or to the checker's own reference must earn nothing; and one
``nbgrader autograde`` of a scratch course must grade raising, looping and
test-deleting submissions without a crash, then export every student.
"""
import os

import numpy as np
import pytest
from graded_notebooks import (
    Assignment, answer_functions, autograded_output, cell, class_grading_tests, full_points_tests, planted,
    planted_bug_tests, release_baseline_test, submission, without,
)

from course_lib.grading import assignment8, registry, trusted

ASSIGNMENT = "assignment8"
NOTEBOOK = Assignment(ASSIGNMENT)
FULL = NOTEBOOK.full
SOLUTION = answer_functions(NOTEBOOK.solution)


def test_the_points_add_up_to_fifteen_and_no_exercise_uses_course_lib():
    assert sum(FULL.values()) == 15
    assert not registry.uses_course_lib(ASSIGNMENT)
    for exercise in FULL:
        forbidden = trusted.forbidden_modules(ASSIGNMENT, exercise)
        for module in ("course_lib.ops", "course_lib.layers", "course_lib.grading.assignment8", "keras", "tensorflow"):
            assert module in forbidden, (exercise, module)


# --- the references and the solution notebook earn everything -----------------------


test_the_reference_earns_full_points, test_the_solution_notebook_earns_full_points_and_the_release_nothing = (
    full_points_tests(NOTEBOOK))


def test_the_generator_is_also_graded_through_the_notebook_s_helper():
    """In the trusted grader the batches come through collect_batches (a generator cannot leave the sandbox)."""
    check = assignment8.check_directory_batches
    assert check(SOLUTION["directory_batches"], SOLUTION["collect_batches"], verbose=False) == FULL["directory_batches"]
    assert registry.checkers(ASSIGNMENT)["directory_batches"][1] == "collect_batches"


def _coordinates(shape, matrix):
    """x and y of every output pixel of an image of ``shape`` (for the tests' own look at the cases)."""
    rows, columns = np.indices(shape[:2])
    return (matrix[0, 0] * columns + matrix[0, 1] * rows + matrix[0, 2],
            matrix[1, 0] * columns + matrix[1, 1] * rows + matrix[1, 2])


def test_no_warp_case_lands_on_a_half_or_on_the_border():
    """So that np.round and floor(x + 0.5) agree, and "constant"'s test is never a question of rounding errors.

    Another order of the same float64 operations moves a coordinate by about 1e-13: 1e-9 is a wide margin.
    """
    cases = [(shape, parameters) for shape, parameters, _, _ in assignment8._WARP_CASES]
    cases.append((assignment8.SPEED_SHAPE, assignment8.SPEED_PARAMETERS))
    for shape, parameters in cases:
        matrix = assignment8.reference_affine_matrix(**parameters, height=shape[0], width=shape[1])
        for coordinate, size in zip(_coordinates(shape, matrix), (shape[1], shape[0])):
            fraction = coordinate - np.floor(coordinate)
            assert np.abs(fraction - 0.5).min() > 1e-9, (shape, parameters)
            for border in (0, size - 1):
                assert np.abs(coordinate - border).min() > 1e-9, (shape, parameters, border)


def test_the_warp_cases_cover_both_fill_modes_and_send_points_outside():
    modes = {fill_mode for _, _, fill_mode, _ in assignment8._WARP_CASES}
    assert modes == {"constant", "nearest"}
    assert any(cval not in (0.0,) for _, _, mode, cval in assignment8._WARP_CASES if mode == "constant")
    for shape, parameters, _, _ in assignment8._WARP_CASES:
        matrix = assignment8.reference_affine_matrix(**parameters, height=shape[0], width=shape[1])
        x, y = _coordinates(shape, matrix)
        outside = (x < 0) | (x > shape[1] - 1) | (y < 0) | (y > shape[0] - 1)
        assert 0 < outside.mean() < 0.7, (shape, parameters)
    assert any(shape[0] != shape[1] for shape, _, _, _ in assignment8._WARP_CASES)


def test_the_grader_s_folders_are_listed_unsorted_and_hold_stray_files(tmp_path):
    folders = assignment8.make_grader_folders(tmp_path)
    grey = folders["grey"]
    classes = [name for name in os.listdir(grey) if os.path.isdir(os.path.join(grey, name))]
    assert sorted(classes) == ["2", "5", "7"]
    files = [name for name in os.listdir(os.path.join(grey, "7"))]
    assert "notes.txt" in files and "7_003.PNG" in files and os.path.exists(os.path.join(grey, "README.txt"))
    batches = assignment8.reference_directory_batches(grey, 100, (12, 16))
    labels = np.concatenate([labels for _, labels in batches])
    assert list(labels) == [0] * 7 + [1] * 7 + [2] * 7  # the capitalised file is read, notes.txt is not


# --- the references against Keras ---------------------------------------------------------------


@pytest.fixture(scope="module")
def keras_image():
    pytest.importorskip("tensorflow")
    from keras.src.legacy.preprocessing import image

    return image


@pytest.mark.parity
def test_the_warp_reference_is_keras_s_apply_affine_transform(keras_image):
    """Every warp case, and the centred matrix cases on images of their size, through Keras with order=0."""
    rng = np.random.default_rng(7)
    cases = list(assignment8._WARP_CASES)
    cases += [((parameters["height"], parameters["width"], 2), parameters, mode, -0.5)
              for _, parameters in assignment8._MATRIX_CASES if "height" in parameters for mode in ("constant",
                                                                                                       "nearest")]
    for shape, parameters, fill_mode, cval in cases:
        parameters = {key: value for key, value in parameters.items() if key not in ("height", "width")}
        image = rng.normal(size=shape)
        matrix = assignment8.reference_affine_matrix(**parameters, height=shape[0], width=shape[1])
        theirs = keras_image.apply_affine_transform(image, **parameters, row_axis=0, col_axis=1, channel_axis=2,
                                                    fill_mode=fill_mode, cval=cval, order=0)
        ours = assignment8.reference_apply_affine_nearest(image, matrix, fill_mode, cval)
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parity
def test_the_matrix_reference_is_keras_s_composition(keras_image):
    """R @ T @ S @ Z as Keras's source writes them, centred by Keras's own transform_matrix_offset_center."""
    for _, parameters in assignment8._MATRIX_CASES:
        p = dict(assignment8.NEUTRAL, **parameters)
        theta, shear = np.deg2rad(p["theta"]), np.deg2rad(p["shear"])
        keras_matrix = (np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
                        @ np.array([[1, 0, p["tx"]], [0, 1, p["ty"]], [0, 0, 1]])
                        @ np.array([[1, -np.sin(shear), 0], [0, np.cos(shear), 0], [0, 0, 1]])
                        @ np.array([[p["zx"], 0, 0], [0, p["zy"], 0], [0, 0, 1]]))
        if p["height"] is not None:
            keras_matrix = keras_image.transform_matrix_offset_center(keras_matrix, p["height"], p["width"])
        np.testing.assert_allclose(assignment8.reference_affine_matrix(**parameters), keras_matrix, rtol=1e-12,
                                   atol=1e-12)


@pytest.mark.parity
def test_the_folder_reference_is_keras_s_flow_from_directory(keras_image, tmp_path, capsys):
    folders = assignment8.make_grader_folders(tmp_path)
    for folder, batch_size, target_size in assignment8._FOLDER_CASES:
        ours = assignment8.reference_directory_batches(folders[folder], batch_size, target_size)
        iterator = keras_image.ImageDataGenerator(rescale=1 / 255).flow_from_directory(
            folders[folder], target_size=target_size, class_mode="sparse", batch_size=batch_size, shuffle=False)
        assert len(ours) == len(iterator)
        for (images, labels), (their_images, their_labels) in zip(ours, (iterator[i] for i in range(len(iterator)))):
            np.testing.assert_array_equal(images, their_images)
            np.testing.assert_array_equal(labels, their_labels)
    assert "Found 21 images belonging to 3 classes." in capsys.readouterr().out  # Keras's count agrees


# --- planted bugs earn exactly what they should, with a reason ------------------------------------------------

MATRIX_SOURCE = """
    def affine_matrix(theta=0.0, tx=0.0, ty=0.0, shear=0.0, zx=1.0, zy=1.0, height=None, width=None):
        angle = np.deg2rad(theta)
        rotation = np.array([[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0, 0, 1.0]])
        shift = np.array([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])
        slant = np.deg2rad(shear)
        shearing = np.array([[1.0, -np.sin(slant), 0.0], [0.0, np.cos(slant), 0.0], [0.0, 0.0, 1.0]])
        zoom = np.array([[zx, 0.0, 0.0], [0.0, zy, 0.0], [0.0, 0.0, 1.0]])
        matrix = rotation @ shift @ shearing @ zoom
        if height is not None:
            o_x, o_y = height / 2 - 0.5, width / 2 - 0.5
            to_centre = np.array([[1.0, 0.0, o_x], [0.0, 1.0, o_y], [0.0, 0.0, 1.0]])
            from_centre = np.array([[1.0, 0.0, -o_x], [0.0, 1.0, -o_y], [0.0, 0.0, 1.0]])
            matrix = to_centre @ matrix @ from_centre
        return matrix
    """
WARP_SOURCE = """
    def apply_affine_nearest(image, matrix, fill_mode="nearest", cval=0.0):
        height, width = image.shape[:2]
        rows, columns = np.indices((height, width))
        x = matrix[0, 0] * columns + matrix[0, 1] * rows + matrix[0, 2]
        y = matrix[1, 0] * columns + matrix[1, 1] * rows + matrix[1, 2]
        source_rows = np.clip(np.floor(y + 0.5).astype(int), 0, height - 1)
        source_columns = np.clip(np.floor(x + 0.5).astype(int), 0, width - 1)
        out = image[source_rows, source_columns]
        if fill_mode == "constant":
            outside = (x < 0) | (x > width - 1) | (y < 0) | (y > height - 1)
            out[outside] = cval
        return out
    """
FLIP_SOURCE = """
    def flip_horizontal(images):
        return images[:, :, ::-1]
    """
RESCALE_SOURCE = """
    def rescale(images, factor):
        return images * factor
    """
FOLDER_SOURCE = """
    def directory_batches(directory, batch_size, target_size):
        classes = sorted(name for name in os.listdir(directory) if os.path.isdir(os.path.join(directory, name)))
        files = []
        for label, name in enumerate(classes):
            folder = os.path.join(directory, name)
            for file_name in sorted(os.listdir(folder)):
                if file_name.lower().endswith(IMAGE_EXTENSIONS):
                    files.append((os.path.join(folder, file_name), label))
        height, width = target_size
        for start in range(0, len(files), batch_size):
            images, labels = [], []
            for path, label in files[start:start + batch_size]:
                with Image.open(path) as picture:
                    picture = picture.convert("RGB")
                    if picture.size != (width, height):
                        picture = picture.resize((width, height), Image.NEAREST)
                    images.append(np.asarray(picture, dtype=np.float32) / 255)
                labels.append(label)
            yield np.stack(images), np.array(labels)
    """
SOURCES = {"affine_matrix": MATRIX_SOURCE, "apply_affine_nearest": WARP_SOURCE, "flip_horizontal": FLIP_SOURCE,
           "rescale": RESCALE_SOURCE, "directory_batches": FOLDER_SOURCE}
EXTRA = {"directory_batches": "import os\nfrom PIL import Image\n"
                              "IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.ppm', '.tif', '.tiff')\n"}

RADIANS = ("angle = np.deg2rad(theta)", "angle = theta")
NO_CENTRING = ("if height is not None:", "if False:")
SHEAR_SIGN = ("[[1.0, -np.sin(slant), 0.0]", "[[1.0, np.sin(slant), 0.0]")
CENTRE_SWAPPED = ("o_x, o_y = height / 2 - 0.5, width / 2 - 0.5", "o_x, o_y = width / 2 - 0.5, height / 2 - 0.5")
ROWS_AND_COLUMNS = ("x = matrix[0, 0] * columns + matrix[0, 1] * rows + matrix[0, 2]\n"
                    "        y = matrix[1, 0] * columns + matrix[1, 1] * rows + matrix[1, 2]",
                    "y = matrix[0, 0] * rows + matrix[0, 1] * columns + matrix[0, 2]\n"
                    "        x = matrix[1, 0] * rows + matrix[1, 1] * columns + matrix[1, 2]")
FLOOR = ("np.floor(y + 0.5).astype(int), 0, height - 1)", "y.astype(int), 0, height - 1)")
FLOOR_BOTH = ("np.clip(np.floor(y + 0.5).astype(int), 0, height - 1)\n"
              "        source_columns = np.clip(np.floor(x + 0.5).astype(int), 0, width - 1)",
              "np.clip(np.floor(y).astype(int), 0, height - 1)\n"
              "        source_columns = np.clip(np.floor(x).astype(int), 0, width - 1)")
CVAL_IGNORED = ("out[outside] = cval", "out[outside] = 0")
UNSORTED_FILES = ("for file_name in sorted(os.listdir(folder)):", "for file_name in os.listdir(folder):")
BUGS = {
    "affine_matrix": {
        "radians instead of degrees": RADIANS,
        "the rotation the other way": ("[[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle),",
                                       "[[np.cos(angle), np.sin(angle), 0.0], [-np.sin(angle),"),
        "the shear's sign": SHEAR_SIGN,
        "the shear in radians": ("slant = np.deg2rad(shear)", "slant = shear"),
        "the shift's sign": ("[[1.0, 0.0, tx], [0.0, 1.0, ty]", "[[1.0, 0.0, -tx], [0.0, 1.0, -ty]"),
        "no centring": NO_CENTRING,
        "the centre's offsets swapped": CENTRE_SWAPPED,
        "the centre at height / 2": ("height / 2 - 0.5, width / 2 - 0.5", "height / 2, width / 2"),
        "the factors in reverse order": ("rotation @ shift @ shearing @ zoom", "zoom @ shearing @ shift @ rotation"),
        "the centring the wrong way round": ("to_centre @ matrix @ from_centre", "from_centre @ matrix @ to_centre"),
    },
    "apply_affine_nearest": {
        "rows and columns swapped": ROWS_AND_COLUMNS,
        "rounded down": FLOOR_BOTH,
        "the rows rounded down": FLOOR,
        "the fill value ignored": CVAL_IGNORED,
        "no fill at all": ('if fill_mode == "constant":', "if False:"),
        "the inverse matrix": ("height, width = image.shape[:2]",
                               "height, width = image.shape[:2]\n        matrix = np.linalg.inv(matrix)"),
        "the constant test after rounding": ("outside = (x < 0) | (x > width - 1) | (y < 0) | (y > height - 1)",
                                             "outside = (np.floor(x + 0.5) < 0) | (np.floor(x + 0.5) > width - 1) | "
                                             "(np.floor(y + 0.5) < 0) | (np.floor(y + 0.5) > height - 1)"),
        "the channels dropped": ("out = image[source_rows, source_columns]",
                                 "out = image[source_rows, source_columns, 0]"),
    },
    "flip_horizontal": {
        "upside down": ("images[:, :, ::-1]", "images[:, ::-1]"),
        "the batch reversed": ("images[:, :, ::-1]", "images[::-1]"),
        "the channels reversed": ("images[:, :, ::-1]", "images[..., ::-1]"),
    },
    "rescale": {
        "divided by the factor": ("images * factor", "images / factor"),
        "in place": ("return images * factor", "images *= factor\n        return images"),
        "cast back to the input's dtype": ("images * factor", "(images * factor).astype(images.dtype)"),
    },
    "directory_batches": {
        "files in listing order": UNSORTED_FILES,
        "classes in listing order": ("classes = sorted(name for name", "classes = list(name for name"),
        "labels from the folder names": ("labels.append(label)",
                                         "labels.append(int(os.path.basename(os.path.dirname(path))))"),
        "pixels not scaled": ("dtype=np.float32) / 255", "dtype=np.float32)"),
        "one-hot labels": ("yield np.stack(images), np.array(labels)",
                           "yield np.stack(images), np.eye(len(classes))[labels]"),
        "grey images": ('picture = picture.convert("RGB")', 'picture = picture.convert("L")'),
        "(width, height) swapped": ("picture.resize((width, height), Image.NEAREST)",
                                    "picture.resize((height, width), Image.NEAREST)"),
        "bilinear resizing": ("Image.NEAREST", "Image.BILINEAR"),
        "the last batch left out": ("for start in range(0, len(files), batch_size):",
                                    "for start in range(0, len(files) - batch_size + 1, batch_size):"),
        "capitals in the extension missed": ("if file_name.lower().endswith(IMAGE_EXTENSIONS):",
                                             "if file_name.endswith(IMAGE_EXTENSIONS):"),
    },
}


def plant(name, old="", new=""):
    return planted(SOURCES[name], name, old, new, extra=EXTRA.get(name))


test_the_sources_the_bugs_are_planted_into_earn_full_points, test_each_planted_bug_earns_less_and_says_why = \
    planted_bug_tests(NOTEBOOK, SOURCES, BUGS, plant)

EXPECTED_POINTS = {
    # 8 matrix cases of 0.5 point: radians fails the 5 with a rotation, no centring the 2 centred ones,
    # the swapped offsets only the image that is not square.
    ("affine_matrix", "radians instead of degrees"): 1.5,
    ("affine_matrix", "the shear's sign"): 2.5,
    ("affine_matrix", "no centring"): 3.0,
    ("affine_matrix", "the centre's offsets swapped"): 3.5,
    # 7 warp cases of 5/7 point: 4 fill with "constant", 3 of them with a cval that is not 0.
    ("apply_affine_nearest", "rows and columns swapped"): 0.0,
    ("apply_affine_nearest", "rounded down"): 0.0,
    ("apply_affine_nearest", "the fill value ignored"): 2.86,
    ("apply_affine_nearest", "no fill at all"): 2.14,
    ("rescale", "in place"): 0.67,
    ("rescale", "cast back to the input's dtype"): 0.67,
    # 3 folder cases: sizes 1/4, images 1/2, labels 1/4 of each. Files unsorted: the images (each class's
    # labels are all the same); classes unsorted: the images and the labels; no scaling: the images.
    ("directory_batches", "files in listing order"): 2.0,
    ("directory_batches", "classes in listing order"): 2.0,
    ("directory_batches", "labels from the folder names"): 3.0,
    ("directory_batches", "pixels not scaled"): 2.0,
    ("directory_batches", "one-hot labels"): 3.0,
    ("directory_batches", "(width, height) swapped"): 3.33,  # the images of the one case that resizes to a non-square
    # Two cases end in a shorter batch (their sizes are wrong), the third is one batch shorter than batch_size
    # (nothing is left).
    ("directory_batches", "the last batch left out"): 2.0,
}


@pytest.mark.parametrize("name, bug", sorted(EXPECTED_POINTS), ids=[f"{n}: {b}" for n, b in sorted(EXPECTED_POINTS)])
def test_a_planted_bug_loses_exactly_the_points_of_the_cases_it_breaks(name, bug, capsys):
    points = NOTEBOOK.checker(name)(plant(name, *BUGS[name][bug]))
    assert points == pytest.approx(EXPECTED_POINTS[name, bug], abs=0.005), capsys.readouterr().out


def _printed(capsys, name, *bug):
    points = NOTEBOOK.checker(name)(plant(name, *bug))
    return points, capsys.readouterr().out


def test_the_matrix_s_usual_mistakes_are_named(capsys):
    _, printed = _printed(capsys, "affine_matrix", *RADIANS)
    assert "matrix[0, 1] is 0.197799, expected -0.608761" in printed, printed
    assert "a rotation by theta = 37.5 radians: theta is in degrees, convert it with np.deg2rad" in printed
    _, printed = _printed(capsys, "affine_matrix", *BUGS["affine_matrix"]["the rotation the other way"])
    assert "the rotation goes the wrong way: your matrix rotates by -theta" in printed, printed
    _, printed = _printed(capsys, "affine_matrix", *SHEAR_SIGN)
    assert "the shear has the wrong sign" in printed, printed
    _, printed = _printed(capsys, "affine_matrix", *NO_CENTRING)
    assert "the matrix is not centred: with height and width it is offset @ M @ inverse(offset)" in printed, printed
    _, printed = _printed(capsys, "affine_matrix", *CENTRE_SWAPPED)
    assert "Keras puts height / 2 - 0.5 on x (the first coordinate)" in printed, printed
    assert "[everything about the centre of a 24 x 40 image" in printed
    _, printed = _printed(capsys, "affine_matrix", *BUGS["affine_matrix"]["the factors in reverse order"])
    assert "the factors are multiplied in the order zoom @ shear @ shift @ rotation; Keras's order is rotation @ " \
        "shift @ shear @ zoom" in printed, printed
    _, printed = _printed(capsys, "affine_matrix", *BUGS["affine_matrix"]["the centre at height / 2"])
    assert "not (height / 2, width / 2)" in printed, printed
    _, printed = _printed(capsys, "affine_matrix", *BUGS["affine_matrix"]["the centring the wrong way round"])
    assert "the two offsets are the wrong way round" in printed, printed


def test_the_warp_s_usual_mistakes_are_named(capsys):
    _, printed = _printed(capsys, "apply_affine_nearest", *ROWS_AND_COLUMNS)
    assert "the matrix read as acting on (row, column): it acts on (x, y) = (column, row)" in printed, printed
    _, printed = _printed(capsys, "apply_affine_nearest", *FLOOR_BOTH)
    assert "coordinates rounded down (np.floor, astype(int)): the nearest pixel is floor(coordinate + 0.5)" in printed
    assert "pixels differ; the first at row " in printed and ": expected " in printed and ", received " in printed
    _, printed = _printed(capsys, "apply_affine_nearest", *CVAL_IGNORED)
    assert "the points outside the image must be cval = 0.5, not 0" in printed, printed
    _, printed = _printed(capsys, "apply_affine_nearest", *BUGS["apply_affine_nearest"]["no fill at all"])
    assert "these are the pixels of fill_mode='nearest'; this case asks for fill_mode='constant'" in printed, printed
    _, printed = _printed(capsys, "apply_affine_nearest", *BUGS["apply_affine_nearest"]["the inverse matrix"])
    assert "these are the pixels of the inverse matrix" in printed, printed
    _, printed = _printed(capsys, "apply_affine_nearest", *BUGS["apply_affine_nearest"]["the channels dropped"])
    assert "output shape (9, 9, 1) expected, received (9, 9): keep the channel axis" in printed, printed


def test_np_round_is_as_good_as_floor_of_x_plus_a_half(capsys):
    """The graders' points never land on a half: the two roundings earn the same."""
    rounded = plant("apply_affine_nearest", "np.floor(y + 0.5)", "np.round(y)")
    rounded_both = planted(WARP_SOURCE.replace("np.floor(y + 0.5)", "np.round(y)").replace("np.floor(x + 0.5)",
                                                                                            "np.round(x)"),
                           "apply_affine_nearest")
    assert NOTEBOOK.quiet("apply_affine_nearest", rounded) == FULL["apply_affine_nearest"]
    assert NOTEBOOK.quiet("apply_affine_nearest", rounded_both) == FULL["apply_affine_nearest"]


@pytest.mark.slow
def test_a_loop_over_pixels_loses_the_timed_case_only(capsys):
    looping = planted("""
        def apply_affine_nearest(image, matrix, fill_mode="nearest", cval=0.0):
            height, width = image.shape[:2]
            out = np.empty_like(image)
            for i in range(height):
                for j in range(width):
                    x = matrix[0, 0] * j + matrix[0, 1] * i + matrix[0, 2]
                    y = matrix[1, 0] * j + matrix[1, 1] * i + matrix[1, 2]
                    if fill_mode == "constant" and not (0 <= x <= width - 1 and 0 <= y <= height - 1):
                        out[i, j] = cval
                    else:
                        out[i, j] = image[min(max(int(np.floor(y + 0.5)), 0), height - 1),
                                          min(max(int(np.floor(x + 0.5)), 0), width - 1)]
            return out
        """, "apply_affine_nearest")
    points = NOTEBOOK.checker("apply_affine_nearest")(looping)
    printed = capsys.readouterr().out
    assert points == pytest.approx(5 * 6 / 7, abs=0.01), printed
    assert "is there a Python loop over pixels?" in printed or "vectorise it" in printed, printed


def test_the_small_exercises_say_what_is_wrong(capsys):
    _, printed = _printed(capsys, "flip_horizontal", *BUGS["flip_horizontal"]["upside down"])
    assert "flipped upside down (the rows, axis 1); a horizontal flip reverses the columns, axis 2" in printed
    _, printed = _printed(capsys, "rescale", *BUGS["rescale"]["divided by the factor"])
    assert "these are the images divided by the factor; rescale multiplies by it" in printed, printed
    _, printed = _printed(capsys, "rescale", *BUGS["rescale"]["in place"])
    assert "UFuncTypeError" in printed and "a uint8 array cannot hold the fractions" in printed, printed
    _, printed = _printed(capsys, "rescale", *BUGS["rescale"]["cast back to the input's dtype"])
    assert "the result has dtype uint8" in printed, printed


def test_the_folder_reader_s_usual_mistakes_are_named(capsys):
    _, printed = _printed(capsys, "directory_batches", *UNSORTED_FILES)
    assert "the right images in another order; Keras sorts the class folders by name and, in each, the file names" \
        in printed, printed
    _, printed = _printed(capsys, "directory_batches", *BUGS["directory_batches"]["classes in listing order"])
    assert "the right images in another order; Keras sorts the class folders by name" in printed, printed
    _, printed = _printed(capsys, "directory_batches", *BUGS["directory_batches"]["labels from the folder names"])
    assert "label 0 is 2, expected 0" in printed and "the labels are the class folders' names" in printed, printed
    _, printed = _printed(capsys, "directory_batches", *BUGS["directory_batches"]["pixels not scaled"])
    assert "the pixels are 0 .. 255; scale them to [0, 1]" in printed, printed
    _, printed = _printed(capsys, "directory_batches", *BUGS["directory_batches"]["one-hot labels"])
    assert "labels of shape (B,) expected, received (B, 3): one label per image, the class's index" in printed
    _, printed = _printed(capsys, "directory_batches", *BUGS["directory_batches"]["grey images"])
    assert "convert every image to RGB" in printed, printed
    _, printed = _printed(capsys, "directory_batches", *BUGS["directory_batches"]["(width, height) swapped"])
    assert "height and width are swapped; Pillow's resize takes (width, height)" in printed, printed
    _, printed = _printed(capsys, "directory_batches", *BUGS["directory_batches"]["bilinear resizing"])
    assert "resized with bilinear sampling; Keras's default is nearest-neighbour" in printed, printed
    _, printed = _printed(capsys, "directory_batches", *BUGS["directory_batches"]["the last batch left out"])
    assert "batch sizes [5, 5, 5, 5] expected [5, 5, 5, 5, 1]: the last, shorter batch is missing" in printed, printed
    endless = planted("""
        def directory_batches(directory, batch_size, target_size):
            while True:
                yield np.zeros((1, 2, 2, 3)), np.zeros(1)
        """, "directory_batches")
    assert NOTEBOOK.checker("directory_batches")(endless) == 0.0
    assert "yielded 1000 batches or more: make one pass over the files" in capsys.readouterr().out


# --- the trusted grader: NumPy and Pillow only, the graders' folder read-only ---------------------------------------

RELEASED = {grade_id: "".join(cell(NOTEBOOK.release, grade_id)["source"])
            for grade_id in ("affine_matrix_answer", "apply_affine_nearest_answer", "directory_batches_answer")}
SOLVED = {grade_id: "".join(cell(NOTEBOOK.solution, grade_id)["source"]) for grade_id in (
    "affine_matrix_answer", "apply_affine_nearest_answer", "flip_horizontal_answer", "directory_batches_answer")}
FORGERIES = {  # (the answer cell, its source, the exercises that earn nothing)
    "Keras's own warp": ("apply_affine_nearest_answer", (
        "from keras.src.legacy.preprocessing.image import apply_affine_transform\n"
        "def apply_affine_nearest(image, matrix, fill_mode='nearest', cval=0.0):\n"
        "    return apply_affine_transform(image, row_axis=0, col_axis=1, channel_axis=2, order=0)\n"),
        ["apply_affine_nearest"]),
    "course_lib's warp": ("apply_affine_nearest_answer", (
        "from course_lib.preprocessing.image import affine_transform_batch\n"
        "def apply_affine_nearest(image, matrix, fill_mode='nearest', cval=0.0):\n"
        "    return affine_transform_batch(image[None], matrix, fill_mode, cval, order=0)[0]\n"),
        ["apply_affine_nearest"]),
    "course_lib's warp imported at run time": ("apply_affine_nearest_answer", (
        "import importlib\n"
        "def apply_affine_nearest(image, matrix, fill_mode='nearest', cval=0.0):\n"
        "    image_module = importlib.import_module('course_lib.' + 'preprocessing.image')\n"
        "    return image_module.affine_transform_batch(image[None], matrix, fill_mode, cval, order=0)[0]\n"),
        ["apply_affine_nearest"]),
    "course_lib's layers": ("flip_horizontal_answer", (
        "import course_lib as library\n"
        "def flip_horizontal(images):\n"
        "    return library.layers.RandomFlip('horizontal')(images)\n"), ["flip_horizontal"]),
    "the checker's reference": ("affine_matrix_answer",
                                "from course_lib.grading.assignment8 import reference_affine_matrix as affine_matrix\n",
                                ["affine_matrix"]),
    "the checker's reference folder": ("directory_batches_answer", (
        "from course_lib.grading import assignment8\n"
        "def directory_batches(directory, batch_size, target_size):\n"
        "    yield from assignment8.reference_directory_batches(directory, batch_size, target_size)\n"),
        ["directory_batches"]),
    "patches the checker": ("affine_matrix_answer", "grading.check_affine_matrix = lambda *args, **kwargs: 4.0\n"
                            + RELEASED["affine_matrix_answer"], ["affine_matrix"]),
    "prints a number": ("affine_matrix_answer", "print(4.0)\n" + RELEASED["affine_matrix_answer"], ["affine_matrix"]),
    # Were the write allowed, the batches would be right and earn every point.
    "writes into the graders' folder": ("directory_batches_answer", SOLVED["directory_batches_answer"].replace(
        "    classes = sorted(", "    open(os.path.join(directory, 'README.txt'), 'a').write('changed')\n"
        "    classes = sorted(", 1), ["directory_batches"]),
}


def test_the_solution_is_graded_in_sandboxes_that_read_the_graders_folder():
    assert NOTEBOOK.trusted_scores(NOTEBOOK.solution) == FULL


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_forged_answer_earns_nothing_for_its_exercise(forgery):
    grade_id, source, lost = FORGERIES[forgery]
    forged = submission(NOTEBOOK.solution, **{grade_id: source})
    assert NOTEBOOK.trusted_scores(forged) == dict(FULL, **{name: 0.0 for name in lost})


def test_scipy_s_warp_earns_nothing():
    """scipy.ndimage is what Keras calls for its warps; assignment8.FORBIDDEN_MODULES refuses it."""
    source = ("from scipy import ndimage\n"
              "def apply_affine_nearest(image, matrix, fill_mode='nearest', cval=0.0):\n"
              "    swapped = matrix[[1, 0, 2]][:, [1, 0, 2]]\n"
              "    return np.stack([ndimage.affine_transform(image[..., c], swapped[:2, :2], swapped[:2, 2], order=0,\n"
              "                     mode=fill_mode, cval=cval) for c in range(image.shape[-1])], axis=-1)\n")
    forged = submission(NOTEBOOK.solution, apply_affine_nearest_answer=source)
    assert NOTEBOOK.trusted_scores(forged)["apply_affine_nearest"] == 0.0


# --- nbgrader on a class: raising, looping, deleted tests, partial credit, the export ----------------


def _class():
    erin = submission(NOTEBOOK.solution, directory_batches_answer=RELEASED["directory_batches_answer"])
    return {
        "alice": NOTEBOOK.solution,
        "bob": lambda regenerated: regenerated,
        # affine_matrix raises inside; the flip cell raises before its def.
        "carol": submission(NOTEBOOK.solution, affine_matrix_answer=SOLVED["affine_matrix_answer"].replace(
            "    angle = np.deg2rad(theta)\n", "    raise ValueError('not in degrees yet')\n", 1),
            flip_horizontal_answer="raise RuntimeError('not finished')\n" + SOLVED["flip_horizontal_answer"]),
        # an endless loop before apply_affine_nearest's def: that cell is left out, the rest graded.
        "dave": submission(NOTEBOOK.solution, apply_affine_nearest_answer="while True:\n    pass\n"
                           + SOLVED["apply_affine_nearest_answer"]),
        # deleted two test cells, left directory_batches as the release's stub.
        "erin": without(erin, "rescale_tests", "directory_batches_tests"),
        # the centre's offsets swapped, rounding down, files read unsorted.
        "frank": submission(NOTEBOOK.solution, affine_matrix_answer=SOLVED["affine_matrix_answer"].replace(
            *CENTRE_SWAPPED),
            apply_affine_nearest_answer=SOLVED["apply_affine_nearest_answer"].replace(
                "np.floor(y + 0.5)", "np.floor(y)").replace("np.floor(x + 0.5)", "np.floor(x)"),
            directory_batches_answer=SOLVED["directory_batches_answer"].replace(*UNSORTED_FILES)),
        "mallory": submission(NOTEBOOK.solution, **{FORGERIES["Keras's own warp"][0]:
                                                    FORGERIES["Keras's own warp"][1]}),
    }


CLASS = _class()
EXPECTED = {
    "alice": FULL,
    "bob": {name: 0.0 for name in FULL},
    "carol": dict(FULL, affine_matrix=0.0, flip_horizontal=0.0),
    "dave": dict(FULL, apply_affine_nearest=0.0),
    "erin": dict(FULL, directory_batches=0.0),
    "frank": None,  # what the checkers give frank's functions in this process
    "mallory": dict(FULL, apply_affine_nearest=0.0),
}


graded_class, scores_of, test_nbgrader_autogrades_every_kind_of_submission, test_the_export_lists_every_student = \
    class_grading_tests(NOTEBOOK, CLASS, EXPECTED)


def graded_cell(graded_class, student, exercise):
    """What the autograded notebook shows in the exercise's graded cell (the checker's reasons)."""
    return autograded_output(graded_class, ASSIGNMENT, student, exercise)


def test_the_planted_student_loses_points_in_the_right_exercises():
    frank = scores_of("frank")
    assert frank["flip_horizontal"] == FULL["flip_horizontal"] and frank["rescale"] == FULL["rescale"], frank
    assert frank["affine_matrix"] == 3.5 and frank["apply_affine_nearest"] == 0.0, frank
    assert frank["directory_batches"] == 2.0, frank  # the images in another order; the labels are right


@pytest.mark.slow
def test_errors_loops_and_deleted_tests_are_reported_not_crashed_on(graded_class):
    assert "affine_matrix raised ValueError: not in degrees yet" in graded_cell(graded_class, "carol", "affine_matrix")
    assert "flip_horizontal is not defined" in graded_cell(graded_class, "carol", "flip_horizontal")
    dave = graded_cell(graded_class, "dave", "apply_affine_nearest")
    assert "cell apply_affine_nearest_answer was left out" in dave and "did not finish" in dave
    assert "Missing grade cell directory_batches_tests encountered, adding to notebook" in graded_class["log"]
    assert "directory_batches raised NotImplementedError" in graded_cell(graded_class, "erin", "directory_batches")
    assert "Keras puts height / 2 - 0.5 on x" in graded_cell(graded_class, "frank", "affine_matrix")
    assert "floor(coordinate + 0.5)" in graded_cell(graded_class, "frank", "apply_affine_nearest")
    assert "the right images in another order" in graded_cell(graded_class, "frank", "directory_batches")
    assert "does not allow" in graded_cell(graded_class, "mallory", "apply_affine_nearest")
    assert "apply_affine_nearest took" in graded_cell(graded_class, "alice", "apply_affine_nearest")


test_the_release_baseline_is_zero = release_baseline_test(NOTEBOOK)


def test_pillow_s_warp_earns_nothing_but_pillow_reads_the_files():
    source = ("from PIL import Image\n"
              "def apply_affine_nearest(image, matrix, fill_mode='nearest', cval=0.0):\n"
              "    inverse = matrix[[1, 0, 2]][:, [1, 0, 2]]\n"
              "    planes = [np.asarray(Image.fromarray(image[..., c].astype(np.float32), 'F').transform(\n"
              "        image.shape[1::-1], Image.AFFINE, tuple(inverse[:2].ravel()), Image.NEAREST))\n"
              "        for c in range(image.shape[-1])]\n"
              "    return np.stack(planes, axis=-1)\n")
    forged = submission(NOTEBOOK.solution, apply_affine_nearest_answer=source)
    scores = NOTEBOOK.trusted_scores(forged)
    assert scores["apply_affine_nearest"] == 0.0
    assert scores["directory_batches"] == FULL["directory_batches"]  # its own `from PIL import Image` works
