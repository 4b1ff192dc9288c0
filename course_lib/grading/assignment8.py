"""Checkers for assignment 8 (data augmentation, written with NumPy, and Pillow to read files).

The exercises rebuild what Keras's ``ImageDataGenerator`` does to an image:
the 3x3 matrix of a rotation, shift, shear and zoom (``affine_matrix``), the
warp of an ``(H, W, C)`` image by such a matrix with nearest-neighbour
sampling (``apply_affine_nearest``), the horizontal flip and the rescaling
of a batch, and the batches ``flow_from_directory`` reads from a folder of
class folders (``directory_batches``).

The references are the course's own :mod:`course_lib.preprocessing.image`
(held equal to Keras's legacy ``apply_affine_transform`` and
``flow_from_directory`` by its tests and by this assignment's): its
``affine_matrix``, its ``affine_transform_batch`` with ``order=0``, its
``flip_axis``, and an ``ImageDataGenerator(rescale=1/255)`` reading with
``shuffle=False``. The folder of exercise 4 is written by the grader itself
(:func:`course_lib.datasets.image_folder.make_digit_folder`) into a temporary
folder of its own, outside the course directory: the sandbox running the
student's code may read it, and may not write to it.

Conventions (Keras's, see :mod:`course_lib.preprocessing.image`): the matrix
maps an output pixel ``(x, y, 1)`` to the input point it reads, ``x`` being
the column and ``y`` the row; angles are in degrees; with ``height`` and
``width`` the matrix is centred with ``height / 2 - 0.5`` on ``x`` and
``width / 2 - 0.5`` on ``y`` (Keras's quirk for non-square images, kept).

A failed comparison names the worst entry or the first wrong pixel with both
values; where a known mistake explains the numbers (an angle in radians, a
sign, a missing centring, rows and columns swapped, rounding down, the fill
value ignored, files read unsorted) the reason says so.
"""
from __future__ import annotations

import itertools
import tempfile

import numpy

from course_lib.grading.harness import (
    StudentCodeError,
    call_student,
    compare,
    matches,
    run_cases,
    shape_of,
    shown,
    speed_case,
    with_hint,
)
from course_lib.preprocessing import image as augmentation

_WARPING_LIBRARIES = ("scipy", "cv2", "skimage")
FORBIDDEN_MODULES = {
    # Pillow reads the image files of exercise 4, the only exercise that may import it: its
    # Image.transform would do exercise 2's warp, as scipy.ndimage's (what Keras calls) would.
    "affine_matrix": _WARPING_LIBRARIES + ("PIL",),
    "apply_affine_nearest": _WARPING_LIBRARIES + ("PIL",),
    "flip_horizontal": _WARPING_LIBRARIES + ("PIL",),
    "rescale": _WARPING_LIBRARIES + ("PIL",),
    "directory_batches": _WARPING_LIBRARIES,
}
"""Modules the answers may not import beyond the trusted grader's own list, per exercise."""

DEFAULT_POINTS = {
    "affine_matrix": 4,
    "apply_affine_nearest": 5,
    "flip_horizontal": 1,
    "rescale": 1,
    "directory_batches": 4,
}


def _copy(value):
    return numpy.array(value, copy=True)


# --- exercise 1: the matrix of a rotation, shift, shear and zoom ---------------------------------

PARAMETERS = ("theta", "tx", "ty", "shear", "zx", "zy", "height", "width")
"""The arguments of ``affine_matrix``, in the order the checker passes them."""
NEUTRAL = {"theta": 0.0, "tx": 0.0, "ty": 0.0, "shear": 0.0, "zx": 1.0, "zy": 1.0, "height": None, "width": None}

_MATRIX_CASES = [
    ("rotation alone", {"theta": 37.5}),
    ("rotation alone, clockwise", {"theta": -121.0}),
    ("shift alone", {"tx": 3.25, "ty": -1.5}),
    ("shear alone", {"shear": 22.0}),
    ("zoom alone", {"zx": 1.6, "zy": 0.7}),
    ("rotation, shift, shear and zoom together", {"theta": 15.0, "tx": -2.0, "ty": 4.5, "shear": -12.0, "zx": 0.8,
                                                  "zy": 1.25}),
    ("a rotation about the centre of a square image", {"theta": 30.0, "height": 32, "width": 32}),
    ("everything about the centre of a 24 x 40 image", {"theta": -25.0, "tx": 1.5, "ty": -3.0, "shear": 8.0,
                                                        "zx": 1.1, "zy": 0.9, "height": 24, "width": 40}),
]
"""``(label, parameters)`` of the matrix cases: each component alone, all of them, then the centring."""

_ORDER = ("rotation", "shift", "shear", "zoom")


def reference_affine_matrix(theta=0.0, tx=0.0, ty=0.0, shear=0.0, zx=1.0, zy=1.0, height=None, width=None):
    """Keras's matrix: :func:`course_lib.preprocessing.image.affine_matrix`."""
    return augmentation.affine_matrix(theta, tx, ty, shear, zx, zy, height, width)


def _describe_parameters(parameters):
    return ", ".join(f"{name}={value:g}" for name, value in parameters.items())


def _factors(parameters):
    """The four factors of the matrix, uncentred, each from the reference."""
    p = dict(NEUTRAL, **parameters)
    return {"rotation": reference_affine_matrix(theta=p["theta"]),
            "shift": reference_affine_matrix(tx=p["tx"], ty=p["ty"]),
            "shear": reference_affine_matrix(shear=p["shear"]),
            "zoom": reference_affine_matrix(zx=p["zx"], zy=p["zy"])}


def _matrix_hints(parameters):
    """``(make_alternative, hint)`` for the usual mistakes in ``affine_matrix``."""
    p = dict(NEUTRAL, **parameters)

    def with_(**changes):
        return lambda: reference_affine_matrix(**dict(p, **changes))

    def centred(height, width):
        uncentred = reference_affine_matrix(**dict(p, height=None, width=None))
        return lambda: augmentation.transform_matrix_offset_center(uncentred, height, width)

    hints = []
    if p["theta"]:
        hints += [(with_(theta=numpy.rad2deg(p["theta"])),
                   f"these are the numbers of a rotation by theta = {p['theta']:g} radians: theta is in degrees, "
                   "convert it with np.deg2rad before taking cos and sin"),
                  (with_(theta=-p["theta"]),
                   "the rotation goes the wrong way: your matrix rotates by -theta (Keras's R has -sin(theta) in its "
                   "first row and +sin(theta) in its second)")]
    if p["shear"]:
        hints += [(with_(shear=numpy.rad2deg(p["shear"])),
                   f"these are the numbers of a shear of {p['shear']:g} radians: the shear angle is in degrees too"),
                  (with_(shear=-p["shear"]),
                   "the shear has the wrong sign: Keras's S is [[1, -sin(shear), 0], [0, cos(shear), 0], [0, 0, 1]]")]
    if p["tx"] or p["ty"]:
        hints += [(with_(tx=-p["tx"], ty=-p["ty"]),
                   "the shift has the wrong sign: T is [[1, 0, tx], [0, 1, ty], [0, 0, 1]] (the matrix maps an "
                   "output pixel to the input point it reads, so +tx reads further right)")]
        if p["tx"] != p["ty"]:
            hints += [(with_(tx=p["ty"], ty=p["tx"]), "tx and ty are swapped: tx shifts x, the first coordinate")]
    if p["zx"] != 1 or p["zy"] != 1:
        hints += [(with_(zx=1 / p["zx"], zy=1 / p["zy"]),
                   "the zoom factors are inverted: Z has zx and zy themselves on its diagonal")]
        if p["zx"] != p["zy"]:
            hints += [(with_(zx=p["zy"], zy=p["zx"]), "zx and zy are swapped: zx scales x, the first coordinate")]
    if p["height"] is not None:
        height, width = p["height"], p["width"]
        hints += [(with_(height=None, width=None),
                   "the matrix is not centred: with height and width it is offset @ M @ inverse(offset), where "
                   "offset shifts by (height / 2 - 0.5, width / 2 - 0.5)"),
                  (centred(2 - height, 2 - width),
                   "the two offsets are the wrong way round: offset @ M @ inverse(offset), where offset ADDS the "
                   "centre (height / 2 - 0.5, width / 2 - 0.5)"),
                  (centred(height + 1, width + 1),
                   "the centre is (height / 2 - 0.5, width / 2 - 0.5), halfway between the pixel centres 0 and "
                   "height - 1, not (height / 2, width / 2)")]
        if height != width:
            hints += [(centred(width, height),
                       "the centre's two offsets are swapped: Keras puts height / 2 - 0.5 on x (the first coordinate) "
                       "and width / 2 - 0.5 on y, a quirk for images that are not square which the graders keep")]
    factors = _factors(parameters)
    for order in itertools.permutations(_ORDER):
        if order == _ORDER:
            continue

        def product(order=order):
            matrix = factors[order[0]] @ factors[order[1]] @ factors[order[2]] @ factors[order[3]]
            if p["height"] is None:
                return matrix
            return augmentation.transform_matrix_offset_center(matrix, p["height"], p["width"])

        hints.append((product, f"the factors are multiplied in the order {' @ '.join(order)}; Keras's order is "
                               f"{' @ '.join(_ORDER)}"))
    expected = reference_affine_matrix(**p)
    hints.append((lambda: expected.T, "this is the transpose of the matrix: its last column holds the shift, its "
                                      "last row is (0, 0, 1)"))
    return hints


def _matrix_reason(expected, received):
    reason = compare("matrix", expected, received)
    if reason is None or " relative error " not in reason:
        return reason
    expected = numpy.asarray(expected, dtype="float64")
    received = numpy.asarray(received, dtype="float64")
    error = numpy.abs(expected - received)
    row, column = (int(i) for i in numpy.unravel_index(int(numpy.argmax(error)), error.shape))
    return (f"matrix[{row}, {column}] is {received[row, column]:.6g}, expected {expected[row, column]:.6g} "
            f"({int((error > 1e-6 * (numpy.abs(expected) + 1)).sum())} of 9 entries differ)")


def _varied_matrix_case(parameters, rng):
    """The case with each number scaled by 0.7 ... 1.3 and the image grown by 0 ... 7 pixels (a square stays square)."""
    varied = {name: round(value * float(rng.uniform(0.7, 1.3)), 2) for name, value in parameters.items()
              if name not in ("height", "width")}
    if "height" in parameters:
        grow = [int(n) for n in rng.integers(0, 8, size=2)]
        if parameters["height"] == parameters["width"]:
            grow[1] = grow[0]
        varied["height"], varied["width"] = parameters["height"] + grow[0], parameters["width"] + grow[1]
    return varied


def check_affine_matrix(affine_matrix, points=DEFAULT_POINTS["affine_matrix"], seed=0, verbose=True):
    """Check ``affine_matrix(theta, tx, ty, shear, zx, zy, height, width) -> (3, 3) matrix``.

    Eight cases, each worth the same: a rotation alone (two angles), a shift,
    a shear and a zoom alone, all four together, then the centring, on a
    square and on a 24 x 40 image. The arguments are passed positionally, in
    the order above (``height`` and ``width`` are None where the matrix is
    not centred). ``seed=0`` gives the listed numbers; another seed varies
    each of them (the hidden tests' cases are new ones of the same kinds).

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for label, parameters in _MATRIX_CASES:
        if seed != 0:
            parameters = _varied_matrix_case(parameters, rng)
        arguments = [dict(NEUTRAL, **parameters)[name] for name in PARAMETERS]

        def run(notes, parameters=parameters, arguments=arguments):
            received = call_student("affine_matrix", affine_matrix, *arguments, notes=notes)
            expected = reference_affine_matrix(*arguments)
            reason = with_hint(_matrix_reason(expected, received), _matrix_hints(parameters), received)
            return [(1, reason)]

        cases.append((f"{label}: {_describe_parameters(parameters)}", run))
    return run_cases("affine_matrix", points, cases, verbose)


# --- exercise 2: warping an image with nearest-neighbour sampling -----------------------------------

_WARP_CASES = [
    ((9, 9, 1), {"theta": 31.7}, "constant", 0.0),
    ((10, 14, 3), {"theta": -20.0, "tx": 1.3, "ty": -2.2}, "nearest", 0.0),
    ((12, 8, 2), {"zx": 1.45, "zy": 0.7}, "constant", 0.5),
    ((11, 13, 3), {"shear": 25.0, "zx": 0.8, "zy": 0.85}, "nearest", 0.0),
    ((16, 12, 3), {"theta": 70.0, "tx": -1.7, "ty": 2.4, "shear": -10.0, "zx": 1.2, "zy": 0.9}, "constant", -1.0),
    ((7, 7, 1), {"tx": 2.7, "ty": -1.4}, "constant", 2.0),
]
"""``(image shape, parameters of the centred matrix, fill_mode, cval)`` of the warp cases."""
SPEED_SHAPE = (1024, 1536, 3)
"""The image the warp is timed on (1.5 million pixels)."""
SPEED_PARAMETERS = {"theta": 12.5, "tx": 7.3, "ty": -4.1, "zx": 1.1, "zy": 0.95}
SPEED_FACTOR = 15.0
"""The timed call may take this many times the reference (its best of three runs) ..."""
SPEED_SECONDS = 1.5
"""... but never less than this (CPU seconds, as :func:`course_lib.grading.harness.timed_call` measures) ..."""
SPEED_MAX_SECONDS = 3.0
"""... nor more than this (a Python loop over the 1.5 million pixels takes 5 s or more)."""
SPEED_TIME_LIMIT = 15.0
"""Wall-clock seconds after which the timed call is abandoned."""
PIXEL_SHARE = 0.98
"""A hint's explanation must reproduce at least this share of the pixels (a border row may differ)."""


def reference_apply_affine_nearest(image, matrix, fill_mode="nearest", cval=0.0):
    """Keras's warp with ``order=0``: :func:`course_lib.preprocessing.image.affine_transform_batch` on one image."""
    return augmentation.affine_transform_batch(numpy.asarray(image)[None], numpy.asarray(matrix, dtype="float64"),
                                               fill_mode=fill_mode, cval=cval, order=0)[0]


def _same_pixels(expected, received):
    """Per pixel ``(H, W)``: whether all its channels are equal (received must have the expected shape)."""
    return numpy.all(numpy.isclose(received, expected, rtol=1e-12, atol=1e-12), axis=-1)


def _mostly(expected, received):
    """Whether ``received`` reproduces at least :data:`PIXEL_SHARE` of ``expected``'s pixels (hints only)."""
    try:
        received = numpy.asarray(received, dtype="float64")
        expected = numpy.asarray(expected, dtype="float64")
        return received.shape == expected.shape and _same_pixels(expected, received).mean() >= PIXEL_SHARE
    except Exception:
        return False


def _pixels_reason(expected, received):
    """None when the warped image is right, else which pixels are wrong (the first with both values)."""
    shape = shape_of(received)
    if shape is not None and shape == expected.shape[:2] and expected.shape[2] == 1:
        return (f"output shape {expected.shape} expected, received {shape}: keep the channel axis, (H, W, C) in and "
                "(H, W, C) out")
    reason = compare("output", expected, received)
    if reason is None or " relative error " not in reason:
        return reason
    received = numpy.asarray(received, dtype="float64")
    same = _same_pixels(expected, received)
    if same.all():
        return None
    row, column = (int(i) for i in numpy.argwhere(~same)[0])
    channel = int(numpy.argmax(~numpy.isclose(received[row, column], expected[row, column], rtol=1e-12, atol=1e-12)))
    return (f"{int((~same).sum())} of {same.size} pixels differ; the first at row {row}, column {column}: expected "
            f"{expected[row, column, channel]:.6g}, received {received[row, column, channel]:.6g}")


def _swapped_axes(matrix):
    return numpy.asarray(matrix)[[1, 0, 2]][:, [1, 0, 2]]


def _warp_hints(image, matrix, fill_mode, cval):
    def warp(matrix=matrix, fill_mode=fill_mode, cval=cval):
        return lambda: reference_apply_affine_nearest(image, matrix, fill_mode, cval)

    rounded_down = numpy.array(matrix, dtype="float64")
    rounded_down[:2, 2] -= 0.5  # floor(c) is floor((c - 0.5) + 0.5): the nearest pixel of a point half a pixel back
    other = "nearest" if fill_mode == "constant" else "constant"
    hints = [(warp(matrix=_swapped_axes(matrix)),
              "these are the pixels of the matrix read as acting on (row, column): it acts on (x, y) = (column, row), "
              "so x_in = M[0, 0] * column + M[0, 1] * row + M[0, 2] is the column to read"),
             (warp(matrix=rounded_down),
              "these are the pixels of coordinates rounded down (np.floor, astype(int)): the nearest pixel is "
              "floor(coordinate + 0.5)"),
             (warp(matrix=numpy.linalg.inv(matrix)),
              "these are the pixels of the inverse matrix: the matrix already maps each output pixel to the input "
              "point it reads, use it as it is")]
    if fill_mode == "constant" and cval != 0:
        hints.append((warp(cval=0.0), f"the points outside the image must be cval = {cval:g}, not 0"))
    hints.append((warp(fill_mode=other, cval=cval),
                  f"these are the pixels of fill_mode={other!r}; this case asks for fill_mode={fill_mode!r}"))
    if fill_mode == "constant":
        hints.append((warp(fill_mode="nearest"),
                      "the points outside the image are not filled: with fill_mode='constant' every output pixel "
                      "whose (x, y) lies outside [0, W - 1] x [0, H - 1] (before rounding) is cval"))
    return hints


def _warp_label(shape, parameters, fill_mode, cval):
    fill = f"fill_mode={fill_mode!r}" + (f", cval={cval:g}" if fill_mode == "constant" else "")
    return f"image {shape}, the centred matrix of {_describe_parameters(parameters)}, {fill}"


def _warp_case(apply_affine_nearest, rng, shape, parameters, fill_mode, cval):
    image = rng.normal(size=shape)
    matrix = reference_affine_matrix(**parameters, height=shape[0], width=shape[1])

    def run(notes):
        received = call_student("apply_affine_nearest", apply_affine_nearest, _copy(image), _copy(matrix), fill_mode,
                                cval, notes=notes)
        expected = reference_apply_affine_nearest(image, matrix, fill_mode, cval)
        reason = _pixels_reason(expected, received)
        return [(1, with_hint(reason, _warp_hints(image, matrix, fill_mode, cval), received, _mostly))]

    return _warp_label(shape, parameters, fill_mode, cval), run


def _speed_case(apply_affine_nearest, rng):
    image = rng.normal(size=SPEED_SHAPE)
    matrix = reference_affine_matrix(**SPEED_PARAMETERS, height=SPEED_SHAPE[0], width=SPEED_SHAPE[1])
    run = speed_case(
        "apply_affine_nearest", apply_affine_nearest, lambda: (_copy(image), _copy(matrix), "nearest", 0.0),
        lambda: reference_apply_affine_nearest(image, matrix, "nearest"), _pixels_reason,
        work=f"an image of {SPEED_SHAPE[0] * SPEED_SHAPE[1]} pixels",
        vectorise="vectorise it (every pixel's coordinates at once, with np.indices or np.meshgrid; "
                  "no Python loop over pixels)",
        loop="is there a Python loop over pixels?",
        factor=SPEED_FACTOR, floor=SPEED_SECONDS, cap=SPEED_MAX_SECONDS, time_limit=SPEED_TIME_LIMIT)
    return "timed: " + _warp_label(SPEED_SHAPE, SPEED_PARAMETERS, "nearest", 0.0), run


def check_apply_affine_nearest(apply_affine_nearest, points=DEFAULT_POINTS["apply_affine_nearest"], seed=0,
                               verbose=True):
    """Check ``apply_affine_nearest(image, matrix, fill_mode, cval) -> (H, W, C)`` against Keras's warp, ``order=0``.

    Six cases on small images (square and not, 1 to 3 channels; rotations,
    shifts, shears, zooms; ``fill_mode`` ``"constant"`` with several ``cval``
    and ``"nearest"``), the matrix always the reference's centred one; a
    seventh, on a ``(1024, 1536, 3)`` image, must also be done within the
    time accepted (:data:`SPEED_FACTOR` times the reference, from
    :data:`SPEED_SECONDS` to :data:`SPEED_MAX_SECONDS`). Each case is worth the
    same. The arguments are passed positionally.

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = [_warp_case(apply_affine_nearest, rng, *case) for case in _WARP_CASES]
    cases.append(_speed_case(apply_affine_nearest, rng))
    return run_cases("apply_affine_nearest", points, cases, verbose)


# --- exercise 3: the horizontal flip and the rescaling of a batch ---------------------------------------

_FLIP_SHAPES = [(2, 4, 5, 3), (3, 6, 7, 1), (1, 5, 2, 2), (4, 3, 8, 3)]


def reference_flip_horizontal(images):
    """Every image mirrored left to right: :func:`course_lib.preprocessing.image.flip_axis` on the column axis."""
    return augmentation.flip_axis(numpy.asarray(images), 2)


def check_flip_horizontal(flip_horizontal, points=DEFAULT_POINTS["flip_horizontal"], seed=0, verbose=True):
    """Check ``flip_horizontal(images) -> images`` for ``(N, H, W, C)`` batches: the columns reversed.

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for shape in _FLIP_SHAPES:
        images = rng.normal(size=shape)

        def run(notes, images=images):
            received = call_student("flip_horizontal", flip_horizontal, _copy(images), notes=notes)
            expected = reference_flip_horizontal(images)
            hints = [(lambda: images[:, ::-1], "these are the images flipped upside down (the rows, axis 1); a "
                                               "horizontal flip reverses the columns, axis 2"),
                     (lambda: images[::-1], "this is the batch in reverse order (axis 0); a horizontal flip reverses "
                                            "the columns of each image, axis 2"),
                     (lambda: images[..., ::-1], "these are the channels reversed (axis 3, RGB to BGR); a horizontal "
                                                 "flip reverses the columns, axis 2"),
                     (lambda: images[:, ::-1, ::-1], "these images are turned by 180 degrees (rows and columns "
                                                     "reversed); a horizontal flip reverses the columns only")]
            return [(1, with_hint(compare("flipped images", expected, received), hints, received))]

        cases.append((f"images {shape}", run))
    return run_cases("flip_horizontal", points, cases, verbose)


_RESCALE_CASES = [
    ("float64 images, factor 0.5", (2, 3, 4, 3), "float64", 0.5),
    ("uint8 pixels from 0 to 255, factor 1/255", (3, 5, 5, 3), "uint8", 1 / 255),
    ("float32 images, factor -2", (1, 4, 6, 1), "float32", -2.0),
]


def reference_rescale(images, factor):
    """Keras's ``rescale``: ``ImageDataGenerator(rescale=factor).standardize`` multiplies each image by ``factor``."""
    generator = augmentation.ImageDataGenerator(rescale=factor, dtype="float64")
    return generator.standardize(numpy.array(images, dtype="float64"))


def check_rescale(rescale, points=DEFAULT_POINTS["rescale"], seed=0, verbose=True):
    """Check ``rescale(images, factor) -> images * factor``, floating point (uint8 pixels become 0 .. 1).

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for label, shape, dtype, factor in _RESCALE_CASES:
        if dtype == "uint8":
            images = rng.integers(0, 256, size=shape).astype("uint8")
        else:
            images = rng.normal(size=shape).astype(dtype)

        def run(notes, images=images, factor=factor):
            try:
                received = call_student("rescale", rescale, _copy(images), factor, notes=notes)
            except StudentCodeError as error:
                if images.dtype.kind == "u" and "UFuncTypeError" in str(error):
                    raise StudentCodeError(f"{error}: multiply into a new array (images * factor); a uint8 array "
                                           "cannot hold the fractions") from None
                raise
            expected = reference_rescale(images, factor)
            kind = getattr(numpy.asarray(received) if shape_of(received) is not None else None, "dtype", None)
            if kind is not None and kind.kind in "biu" and shape_of(received) == expected.shape:
                return [(1, f"the result has dtype {kind}: pixels times {factor:.4g} are fractions, return floating "
                            "point numbers (images * factor makes a new float array)")]
            hints = [(lambda: images.astype("float64") / factor,
                      "these are the images divided by the factor; rescale multiplies by it (rescale=1/255 turns "
                      "0 .. 255 into 0 .. 1)")]
            return [(1, with_hint(compare("rescaled images", expected, received), hints, received))]

        cases.append((f"{label}, images {shape}", run))
    return run_cases("rescale", points, cases, verbose)


# --- exercise 4: batches from a folder of class folders ---------------------------------------------------

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff")
"""The files Keras's ``flow_from_directory`` reads (case-insensitive)."""
MAX_BATCHES = 1000
"""How many batches the notebook's ``collect_batches`` takes at most (an endless generator stops there)."""
GREY_FOLDER = {"classes": (7, 2, 5), "per_class": 7, "size": (12, 16), "seed": 8, "color_mode": "grayscale"}
"""The grey digits of the first folder: classes written in an order that is not the sorted one."""
COLOUR_FOLDER = {"classes": (9, 0, 4), "per_class": 4, "size": (10, 10), "seed": 9, "color_mode": "rgb"}
"""The coloured digits of the second folder."""
FOLDERS = {"grey": GREY_FOLDER, "colour": COLOUR_FOLDER}
_FOLDER_CASES = [("grey", 5, (12, 16)), ("grey", 8, (9, 20)), ("colour", 32, (6, 6))]
"""``(folder, batch_size, target_size)``: the images' own size, a resize of both sides, one batch for all."""
_CAPITALISED = 3
"""The file of each class (by sorted position) whose extension the grader writes in capitals (``.PNG``)."""


def make_grader_folders(root, seed=0):
    """The graders' folders of class folders under ``root``: ``{"grey": path, "colour": path}``.

    ``seed=0`` writes the images of :data:`FOLDERS`; another seed chooses other
    images (and colours, and file order) of the same classes.

    Each is written by :func:`course_lib.datasets.image_folder.make_digit_folder`
    into a staging folder, then its files are moved into place in a shuffled
    order (so that listing a folder does not give sorted names, whatever the
    file system), one file per class gets its extension in capitals, and two
    files that are no images are added: ``notes.txt`` in the first class
    folder and ``README.txt`` beside the class folders.
    """
    import os
    import pathlib

    from course_lib.datasets.image_folder import make_digit_folder

    root = pathlib.Path(root)
    folders = {}
    for index, (name, settings) in enumerate(FOLDERS.items()):
        if seed != 0:
            settings = dict(settings, seed=int(numpy.random.default_rng([seed, index]).integers(2**31)))
        staging = make_digit_folder(root / f"{name}-staging", **settings)
        target = root / name
        files = sorted(path.relative_to(staging) for path in staging.rglob("*.png"))
        capitalised = {path for path in files if int(path.stem.split("_")[1]) == _CAPITALISED}
        order = numpy.random.default_rng(settings["seed"]).permutation(len(files))
        for digit in settings["classes"]:
            (target / str(digit)).mkdir(parents=True)
        for index in order:
            path = files[index]
            moved = path.with_suffix(".PNG") if path in capitalised else path
            os.replace(staging / path, target / moved)
        for digit in settings["classes"]:
            (staging / str(digit)).rmdir()
        staging.rmdir()
        (target / str(settings["classes"][0]) / "notes.txt").write_text("not an image\n")
        (target / "README.txt").write_text("digits from scikit-learn, one folder per class\n")
        folders[name] = str(target)
    return folders


def reference_directory_batches(directory, batch_size, target_size, interpolation="nearest"):
    """Every batch of ``ImageDataGenerator(rescale=1/255).flow_from_directory(..., class_mode="sparse",
    shuffle=False)`` over one pass: a list of ``(images float32 (B, h, w, 3), labels float32 (B,))``."""
    import contextlib
    import io

    generator = augmentation.ImageDataGenerator(rescale=1 / 255)
    with contextlib.redirect_stdout(io.StringIO()):  # "Found 21 images belonging to 3 classes."
        iterator = generator.flow_from_directory(directory, target_size=tuple(target_size), color_mode="rgb",
                                                 class_mode="sparse", batch_size=batch_size, shuffle=False,
                                                 interpolation=interpolation)
    return [iterator[index] for index in range(len(iterator))]


def _received_batches(name, result):
    """The student's batches as ``[(images array, labels array)]``, or a StudentCodeError saying what is wrong."""
    if not isinstance(result, (list, tuple)):
        raise StudentCodeError(f"{name} must yield (images, labels) pairs; the batches came back as a "
                               f"{type(result).__name__}")
    if len(result) >= MAX_BATCHES:
        raise StudentCodeError(f"{name} yielded {MAX_BATCHES} batches or more: make one pass over the files "
                               "(ceil(files / batch_size) batches), then stop")
    batches = []
    for number, batch in enumerate(result):
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise StudentCodeError(f"{name}: batch {number} is {shown(batch, 60)}; each batch is a pair "
                                   "(images, labels)")
        try:
            images, labels = (numpy.asarray(part) for part in batch)
        except Exception as error:
            raise StudentCodeError(f"{name}: batch {number} could not be turned into arrays ({type(error).__name__}: "
                                   f"{shown(str(error), 100)})") from None
        if images.dtype.kind not in "biuf" or labels.dtype.kind not in "biuf":
            raise StudentCodeError(f"{name}: batch {number} holds dtypes {images.dtype} and {labels.dtype}; numbers "
                                   "expected")
        batches.append((images, labels))
    return batches


def _sizes_reason(expected, received):
    sizes = [len(labels) for _, labels in expected]
    got = [len(images) if images.ndim else None for images, _ in received]
    if got == sizes:
        return None
    reason = f"batch sizes {got} expected {sizes}"
    if got == sizes[:-1]:
        return reason + ": the last, shorter batch is missing (it holds the files that are left)"
    if len(got) == 1 and got[0] == sum(sizes):
        return reason + ": one batch of batch_size images at a time (yield inside the loop over batches)"
    return reason


def _sorted_rows(array):
    flat = array.reshape(len(array), -1)
    return flat[numpy.lexsort(flat.T[::-1])]


def _images_reason(directory, batch_size, target_size, expected, received):
    want = numpy.concatenate([images for images, _ in expected]).astype("float64")
    try:
        got = numpy.concatenate([images for images, _ in received]).astype("float64")
    except ValueError:
        shapes = sorted({images.shape[1:] for images, _ in received})
        return f"the batches' images have different shapes {shapes[:3]}; each is (B, height, width, 3)"
    height, width = target_size
    if got.shape[1:] != want.shape[1:]:
        reason = f"images of shape {got.shape[1:]} expected {want.shape[1:]} (after the batch axis)"
        if got.shape[1:3] == (width, height):
            reason += (": height and width are swapped; Pillow's resize takes (width, height), target_size is "
                       "(height, width)")
        elif got.shape[1:] in ((height, width), (height, width, 1)):
            reason += ": convert every image to RGB (picture.convert('RGB')), three channels"
        return reason
    if len(got) < len(want) and matches(want[:len(got)], got):
        return None  # a missing last batch costs the sizes part only
    if len(got) != len(want):
        return f"{len(want)} images expected in all, received {len(got)}"
    reason = compare("images", want, got)
    if reason is None:
        return None
    same_set = matches(_sorted_rows(want), _sorted_rows(got))
    if same_set:
        return (f"{reason}: these are the right images in another order; Keras sorts the class folders by name and, "
                "in each, the file names (sorted(os.listdir(folder)))")
    hints = [(lambda: want * 255, "the pixels are 0 .. 255; scale them to [0, 1] (times 1/255)"),
             (lambda: numpy.round(want * 255) / 255 / 255, "the pixels were divided by 255 twice")]
    for interpolation in ("bilinear", "bicubic", "lanczos", "box", "hamming"):
        hints.append((lambda interpolation=interpolation: numpy.concatenate(
            [images for images, _ in reference_directory_batches(directory, batch_size, target_size, interpolation)]),
                      f"these images were resized with {interpolation} sampling; Keras's default is nearest-neighbour "
                      "(picture.resize((width, height), Image.NEAREST))"))
    return with_hint(reason, hints, got)


def _labels_reason(expected, received, class_names):
    want = numpy.concatenate([labels for _, labels in expected]).astype("float64")
    shapes = {labels.shape[1:] for _, labels in received}
    if len(shapes) == 1 and shapes != {()}:
        (rest,) = shapes
        reason = f"labels of shape (B,) expected, received (B, {', '.join(str(n) for n in rest)})"
        if rest == (int(want.max()) + 1,):
            reason += ": one label per image, the class's index (class_mode='sparse'), not one-hot rows"
        return reason
    try:
        got = numpy.concatenate([labels.reshape(-1) for _, labels in received]).astype("float64")
    except ValueError:
        return "the labels could not be put together: one integer per image, shape (B,) per batch"
    if len(got) < len(want) and matches(want[:len(got)], got):
        return None
    if len(got) != len(want):
        return f"{len(want)} labels expected in all, received {len(got)}"
    reason = compare("labels", want, got)
    if reason is None:
        return None
    position = int(numpy.argmax(want != got))
    reason = (f"label {position} is {got[position]:g}, expected {want[position]:g} ({int((want != got).sum())} of "
              f"{len(want)} labels differ)")
    if all(name.isdigit() for name in class_names) and matches([int(class_names[int(label)]) for label in want], got):
        reason += (": the labels are the class folders' names; a class's label is its position among the class "
                   "folders sorted by name (0, 1, 2 ...)")
    elif sorted(want) == sorted(got):
        reason += (": the classes are numbered in another order; a class's label is its position among the class "
                   "folders sorted by name")
    elif got.min() >= 1 and matches(want + 1, got):
        reason += ": the labels start at 0"
    return reason


def _batch_label(folder, batch_size, target_size, count):
    return f"the {folder} digits ({count} images), batch_size={batch_size}, target_size={tuple(target_size)}"


def check_directory_batches(directory_batches, collect_batches=None, points=DEFAULT_POINTS["directory_batches"],
                            seed=0, verbose=True):
    """Check the generator ``directory_batches(directory, batch_size, target_size)`` against ``flow_from_directory``.

    The grader writes two folders of digits of its own (:func:`make_grader_folders`)
    in a temporary folder and compares one pass of the student's batches with
    those of ``ImageDataGenerator(rescale=1/255).flow_from_directory(...,
    class_mode="sparse", shuffle=False)`` for three ``(batch_size,
    target_size)``; ``seed`` chooses the folders' images. A quarter of each case is the batch sizes, half the
    images (all the batches' images in order), a quarter the labels.

    In the trusted grader the generator is called through the notebook's
    ``collect_batches`` (a generator cannot leave the sandbox); in the
    student's kernel ``collect_batches`` may be left out.

    Returns:
        Points earned (float).
    """
    name = "directory_batches"
    with tempfile.TemporaryDirectory(prefix="assignment8-digits-") as root:
        folders = make_grader_folders(root, seed)
        cases = []
        for folder, batch_size, target_size in _FOLDER_CASES:
            directory = folders[folder]
            expected = reference_directory_batches(directory, batch_size, target_size)
            class_names = sorted(str(digit) for digit in FOLDERS[folder]["classes"])

            def run(notes, directory=directory, batch_size=batch_size, target_size=target_size, expected=expected,
                    class_names=class_names):
                if collect_batches is not None:
                    try:
                        result = call_student("collect_batches", collect_batches, directory, batch_size,
                                              tuple(target_size), notes=notes)
                    except StudentCodeError as error:
                        if "collect_batches is not defined" in str(error):
                            raise StudentCodeError(f"{error} (the read-only cell that defines collect_batches must "
                                                   "stay in the notebook)") from None
                        # What collect_batches raises comes from the generator it runs.
                        raise StudentCodeError(str(error).replace("collect_batches raised", f"{name} raised", 1),
                                               fatal=error.fatal) from None
                else:
                    def collect():
                        batches = directory_batches(directory, batch_size, tuple(target_size))
                        return list(itertools.islice(batches, MAX_BATCHES))

                    collect.__name__ = name
                    result = call_student(name, collect, notes=notes)
                received = _received_batches(name, result)
                if not received:
                    return [(4, f"{name} yielded no batch at all")]
                return [(1, _sizes_reason(expected, received)),
                        (2, _images_reason(directory, batch_size, target_size, expected, received)),
                        (1, _labels_reason(expected, received, class_names))]

            count = sum(len(labels) for _, labels in expected)
            cases.append((_batch_label(folder, batch_size, target_size, count), run))
        return run_cases(name, points, cases, verbose)


_CHECKERS = {
    "affine_matrix": (check_affine_matrix, None),
    "apply_affine_nearest": (check_apply_affine_nearest, None),
    "flip_horizontal": (check_flip_horizontal, None),
    "rescale": (check_rescale, None),
    "directory_batches": (check_directory_batches, "collect_batches"),
}
