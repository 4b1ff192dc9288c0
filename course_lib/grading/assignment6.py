"""Checkers for assignment 6 (VGG-16: parameter counts, shapes, and the network built block by block).

A VGG-style network is given as a spec: ``blocks``, a list of ``(filters,
convolutions)`` per block (VGG-16's is ``[(64, 2), (128, 2), (256, 3), (512,
3), (512, 3)]``), the ``input_shape`` of one image ``(height, width,
channels)``, ``dense_units``, the units of the hidden Dense layers (VGG-16's
``(4096, 4096)``), and ``classes``. Every convolution is ``Conv2D(filters,
3, padding="same", activation="relu")``, every block ends with
``MaxPooling2D(2)`` (stride 2, ``valid``), then come ``Flatten``, the hidden
Dense layers (ReLU) and ``Dense(classes, activation="softmax")``, named as
Keras names VGG-16's (``block{b}_conv{i}``, ``block{b}_pool``, ``flatten``,
``fc1``, ``fc2``, ..., ``predictions``).

The answers build with course_lib itself (``USES_COURSE_LIB``). The numbers
are compared with references computed from :mod:`course_lib.ops` (the tests
hold them equal to :mod:`course_lib.applications.vgg16` and to Keras's
``VGG16``: 138,357,544 parameters); ``build_vgg`` is graded on small specs only,
its model rebuilt in the grader from an allow-list of layers and within a
weight budget (:data:`MAX_WEIGHTS`), and compared layer by layer with
:func:`reference_build_vgg`.
"""
from __future__ import annotations

import json
import math
import numbers

import numpy

from course_lib.grading.harness import (
    MODEL_LIMITS,
    StudentCodeError,
    call_student,
    compare,
    drawn_cases,
    rebuilt_model,
    run_cases,
    shown,
)
from course_lib.ops.conv import conv_output_length
from course_lib.ops.pooling import pool_output_length

USES_COURSE_LIB = True
"""The answers use ``import course_lib as keras``: the library is the tool here, not the exercise."""

DEFAULT_POINTS = {
    "conv_params": 1,
    "dense_params": 1,
    "block_output_shapes": 2,
    "vgg_param_count": 3,
    "build_vgg": 3,
}

VGG16_BLOCKS = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]
"""VGG-16's blocks, as :data:`course_lib.applications.vgg16.BLOCKS`."""
VGG16_PARAMETERS = 138_357_544
"""Keras's ``VGG16()`` at 224x224x3 with its top: fc1 and fc2 of 4096 units, 1000 classes."""
MODEL_LAYERS = ("InputLayer", "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dropout", "Activation")
"""The layers a rebuilt ``build_vgg`` model may have."""
MAX_WEIGHTS = 4_000_000
"""Weights a returned model may have (16 MB of float32): the specs graded need under 100,000."""


def _plain(value):
    """A NumPy scalar as the Python number it holds (``4.0``, not ``np.float64(4.0)``), anything else as it is."""
    return value.item() if isinstance(value, numpy.generic) else value


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _count_problem(what, expected, received):
    if not _is_int(received):
        return (f"{what}: the integer {expected:,} expected, received a {type(received).__name__} "
                f"{shown(_plain(received), 40)}")
    if int(received) != expected:
        return f"{what}: {expected:,} expected, received {int(received):,}"
    return None


def _shape_problem(what, expected, received):
    if not isinstance(received, tuple):
        return f"{what}: the tuple {expected} expected, received a {type(received).__name__} {shown(received, 60)}"
    if not all(entry is None or _is_int(entry) for entry in received) \
            or tuple(None if e is None else int(e) for e in received) != expected:
        return f"{what}: {expected} expected, received {shown(received)}"
    return None


def _spec(blocks, input_shape, dense_units=None, classes=None):
    parts = [f"blocks={list(blocks)}", f"input_shape={tuple(input_shape)}"]
    if dense_units is not None:
        parts += [f"dense_units={tuple(dense_units)}", f"classes={classes}"]
    return ", ".join(parts)


def _integer(rng, low, high):
    """A Python int drawn from ``low`` to ``high``, both included."""
    return int(rng.integers(low, high + 1))


def _drawn_blocks(rng, count, filters, convolutions=(1, 2)):
    """``count`` blocks ``(filters, convolutions)``, each number drawn from its (low, high) range."""
    return [(_integer(rng, *filters), _integer(rng, *convolutions)) for _ in range(count)]


def _odd_sizes(rng, pools, low, high):
    """``(height, width)``, not equal, such that every one of ``pools`` pools drops a row or a column.

    (Each dimension loses one at least once: some size before a pool is odd.)
    """
    while True:
        height, width = _integer(rng, low, high), _integer(rng, low, high)
        drops, h, w = [], height, width
        for _ in range(pools):
            drops.append((h % 2, w % 2))
            h, w = h // 2, w // 2
        if height != width and h > 0 and w > 0 and all(any(drop) for drop in drops) \
                and any(drop[0] for drop in drops) and any(drop[1] for drop in drops):
            return height, width


def _vgg_top(rng):
    """Two hidden layers of the same width (a multiple of 256, 1,024 to 4,096) and 2 to 1,000 classes."""
    width = 256 * _integer(rng, 4, 16)
    return (width, width), _integer(rng, 2, 1000)


# --- one layer's parameters --------------------------------------------------------------


def reference_conv_params(kernel_size, in_channels, filters, use_bias=True):
    """Parameters of ``Conv2D(filters, kernel_size, use_bias=use_bias)`` on ``in_channels`` channels.

    A kernel of shape ``(kh, kw, in_channels, filters)`` and, with a bias, one
    number per filter (the tests hold it equal to ``count_params()``).
    """
    kh, kw = (kernel_size, kernel_size) if _is_int(kernel_size) else tuple(kernel_size)
    return kh * kw * in_channels * filters + (filters if use_bias else 0)


def reference_dense_params(in_features, units):
    """Parameters of ``Dense(units)`` on ``in_features`` inputs: a kernel and a bias."""
    return (in_features + 1) * units


_CONV_PARAM_CASES = [  # (kernel_size, in_channels, filters, use_bias); None: called without use_bias
    (3, 3, 64, None),         # VGG-16's block1_conv1: 1,792
    (3, 512, 512, None),      # its block5 convolutions: 2,359,808
    ((3, 3), 64, 128, None),  # a pair is the same as an int
    ((5, 3), 2, 7, None),     # not square
    (1, 16, 8, False),        # a 1x1 convolution without bias
    (7, 1, 4, True),
]


def _drawn_conv_param_case(rng, number):
    """A new case of the kind of ``_CONV_PARAM_CASES[number]`` (its comment says which)."""
    if number == 0:  # a network's first convolution: an odd window on 1, 3 or 4 channels
        return rng.choice([3, 5, 7]).item(), rng.choice([1, 3, 4]).item(), 8 * _integer(rng, 1, 16), None
    if number == 1:  # a deep 3x3 convolution: 147,584 to 9,438,208 parameters
        return 3, 64 * _integer(rng, 2, 16), 64 * _integer(rng, 2, 16), None
    if number == 2:  # a square pair
        size = _integer(rng, 1, 7)
        return (size, size), _integer(rng, 2, 256), _integer(rng, 2, 256), None
    if number == 3:  # a pair, not square
        height, width = (int(n) for n in rng.choice(numpy.arange(1, 8), size=2, replace=False))
        return (height, width), _integer(rng, 1, 16), _integer(rng, 1, 16), None
    if number == 4:  # a 1x1 convolution without bias
        return 1, _integer(rng, 2, 256), _integer(rng, 2, 256), False
    return _integer(rng, 2, 7), _integer(rng, 1, 8), _integer(rng, 1, 16), True  # use_bias=True said


def check_conv_params(conv_params, points=DEFAULT_POINTS["conv_params"], seed=0, verbose=True):
    """Check ``conv_params(kernel_size, in_channels, filters, use_bias=True) -> int``.

    ``kernel_size`` is an int ``k`` (a ``k x k`` window) or a pair ``(kh, kw)``. ``seed=0`` checks
    the cases of :data:`_CONV_PARAM_CASES`; another seed draws new ones of the same kinds.

    Returns:
        Points earned (float).
    """
    cases = []
    for kernel_size, in_channels, filters, use_bias in drawn_cases(seed, _CONV_PARAM_CASES, _drawn_conv_param_case):
        def run(notes, kernel_size=kernel_size, in_channels=in_channels, filters=filters, use_bias=use_bias):
            args = (kernel_size, in_channels, filters) + (() if use_bias is None else (use_bias,))
            received = call_student("conv_params", conv_params, *args, notes=notes)
            expected = reference_conv_params(kernel_size, in_channels, filters, use_bias is not False)
            return [(1, _count_problem("parameters", expected, received))]

        shown_bias = "" if use_bias is None else f", use_bias={use_bias}"
        cases.append((f"kernel_size={kernel_size}, in_channels={in_channels}, filters={filters}{shown_bias}", run))
    return run_cases("conv_params", points, cases, verbose)


_DENSE_PARAM_CASES = [(25088, 4096), (4096, 4096), (4096, 1000), (1, 1), (512, 10)]
"""fc1, fc2 and predictions of VGG-16, then small ones."""


def _dense_param_cases(seed):
    """:data:`_DENSE_PARAM_CASES` for seed 0, else the three Dense layers of another VGG top, then small ones."""
    if seed == 0:
        return list(_DENSE_PARAM_CASES)
    rng = numpy.random.default_rng(seed)
    while True:
        grid, (width, _), classes = _integer(rng, 1, 7), *_vgg_top(rng)
        cases = [(512 * grid * grid, width), (width, width), (width, classes), (1, _integer(rng, 1, 16)),
                 (_integer(rng, 2, 1024), _integer(rng, 2, 100))]
        if not set(cases) & set(_DENSE_PARAM_CASES):
            return cases


def check_dense_params(dense_params, points=DEFAULT_POINTS["dense_params"], seed=0, verbose=True):
    """Check ``dense_params(in_features, units) -> int``.

    ``seed=0`` checks the cases of :data:`_DENSE_PARAM_CASES`; another seed draws new ones of the same
    kinds (the three Dense layers of a VGG top on a 512-channel grid, one input, a small layer).

    Returns:
        Points earned (float).
    """
    cases = []
    for in_features, units in _dense_param_cases(seed):
        def run(notes, in_features=in_features, units=units):
            received = call_student("dense_params", dense_params, in_features, units, notes=notes)
            return [(1, _count_problem("parameters", reference_dense_params(in_features, units), received))]

        cases.append((f"in_features={in_features}, units={units}", run))
    return run_cases("dense_params", points, cases, verbose)


# --- a whole spec ---------------------------------------------------------------------------


def reference_block_output_shapes(blocks, input_shape):
    """``[(None, H, W, filters), ...]``: the shape after each block's pooling.

    Convolutions are 3x3 ``same`` (stride 1: the size stays), pools 2x2 with
    stride 2 and ``valid`` padding (an odd size loses its last row or column),
    from :func:`course_lib.ops.conv.conv_output_length` and
    :func:`course_lib.ops.pooling.pool_output_length`.
    """
    height, width = input_shape[0], input_shape[1]
    shapes = []
    for filters, convolutions in blocks:
        for _ in range(convolutions):
            height = conv_output_length(height, 3, 1, "same")
            width = conv_output_length(width, 3, 1, "same")
        height, width = pool_output_length(height, 2, 2, "valid"), pool_output_length(width, 2, 2, "valid")
        shapes.append((None, height, width, filters))
    return shapes


def reference_vgg_param_count(blocks, input_shape, dense_units, classes):
    """Total parameters of the spec's network (the same as its model's ``count_params()``)."""
    channels, total = input_shape[-1], 0
    for filters, convolutions in blocks:
        for _ in range(convolutions):
            total += reference_conv_params(3, channels, filters)
            channels = filters
    _, height, width, channels = reference_block_output_shapes(blocks, input_shape)[-1]
    features = height * width * channels
    for units in list(dense_units) + [classes]:
        total += reference_dense_params(features, units)
        features = units
    return total


VGG11_BLOCKS = [(64, 1), (128, 1), (256, 2), (512, 2), (512, 2)]
VGG19_BLOCKS = [(64, 2), (128, 2), (256, 4), (512, 4), (512, 4)]
_COUNT_CASES = [  # (label, blocks, input_shape, dense_units, classes)
    ("VGG-16", VGG16_BLOCKS, (224, 224, 3), (4096, 4096), 1000),
    ("VGG-19", VGG19_BLOCKS, (224, 224, 3), (4096, 4096), 1000),
    ("VGG-11", VGG11_BLOCKS, (224, 224, 3), (4096, 4096), 1000),
    ("VGG-16 on 32x32 images, 10 classes", VGG16_BLOCKS, (32, 32, 3), (4096, 4096), 10),
    ("a small VGG", [(8, 1), (16, 2)], (32, 32, 3), (64,), 10),
    ("grey images of odd sizes", [(4, 2), (8, 1), (8, 1)], (50, 36, 1), (16, 16), 5),
    ("no hidden Dense layer", [(6, 1)], (17, 17, 3), (), 3),
]


def _drawn_count_case(rng, number):
    """A new case of the kind of ``_COUNT_CASES[number]``, with its label."""
    if number < 3:  # VGG-16, -19 and -11 on another image size (a multiple of 32), top and classes
        label, blocks = [("VGG-16", VGG16_BLOCKS), ("VGG-19", VGG19_BLOCKS), ("VGG-11", VGG11_BLOCKS)][number]
        size = 32 * _integer(rng, 3, 10)
        return (label, blocks, (size, size, 3), *_vgg_top(rng))
    if number == 3:  # small images: the last block is 1x1
        size = _integer(rng, 32, 63)
        units, classes = _vgg_top(rng)[0], _integer(rng, 2, 100)
        return f"VGG-16 on {size}x{size} images, {classes} classes", VGG16_BLOCKS, (size, size, 3), units, classes
    if number == 4:
        size = _integer(rng, 16, 48)
        return ("a small VGG", _drawn_blocks(rng, 2, (4, 32)), (size, size, 3), (_integer(rng, 16, 128),),
                _integer(rng, 2, 20))
    if number == 5:
        return ("grey images of odd sizes", _drawn_blocks(rng, 3, (2, 16)), _odd_sizes(rng, 3, 20, 64) + (1,),
                (_integer(rng, 8, 32), _integer(rng, 8, 32)), _integer(rng, 2, 10))
    size = _integer(rng, 8, 32)
    return ("no hidden Dense layer", _drawn_blocks(rng, 1, (2, 16)), (size, size, rng.choice([1, 3]).item()), (),
            _integer(rng, 2, 10))


def check_vgg_param_count(vgg_param_count, points=DEFAULT_POINTS["vgg_param_count"], seed=0, verbose=True):
    """Check ``vgg_param_count(blocks, input_shape, dense_units, classes) -> int``.

    The cases include VGG-16 itself (138,357,544 parameters), VGG-11 and
    VGG-19, grey images, odd sizes (the pools drop a row or column) and a
    spec without hidden Dense layers. ``seed=0`` checks the cases of
    :data:`_COUNT_CASES`; another seed draws new ones of the same kinds
    (VGG-16, -19 and -11 then on other image sizes, hidden widths and classes).

    Returns:
        Points earned (float).
    """
    cases = []
    for label, blocks, input_shape, dense_units, classes in drawn_cases(seed, _COUNT_CASES, _drawn_count_case):
        def run(notes, blocks=blocks, input_shape=input_shape, dense_units=dense_units, classes=classes):
            received = call_student("vgg_param_count", vgg_param_count, [tuple(b) for b in blocks], tuple(input_shape),
                                    tuple(dense_units), classes, notes=notes)
            expected = reference_vgg_param_count(blocks, input_shape, dense_units, classes)
            return [(1, _count_problem("parameters", expected, received))]

        cases.append((f"{label}: {_spec(blocks, input_shape, dense_units, classes)}", run))
    return run_cases("vgg_param_count", points, cases, verbose)


_SHAPE_CASES = [  # (label, blocks, input_shape)
    ("VGG-16", VGG16_BLOCKS, (224, 224, 3)),
    ("VGG-16 on 32x32 images: down to 1x1", VGG16_BLOCKS, (32, 32, 3)),
    ("odd sizes: each pool drops the last row or column", [(4, 2), (8, 1), (8, 1)], (50, 36, 1)),
    ("not square", [(8, 1), (16, 2)], (24, 40, 3)),
    ("one block", [(6, 1)], (17, 17, 3)),
]


def _drawn_shape_case(rng, number):
    """A new case of the kind of ``_SHAPE_CASES[number]``, with its label."""
    if number == 0:  # VGG-16 on another image size, a multiple of 32
        size = 32 * _integer(rng, 3, 10)
        return "VGG-16", VGG16_BLOCKS, (size, size, 3)
    if number == 1:
        size = _integer(rng, 32, 63)
        return f"VGG-16 on {size}x{size} images: down to 1x1", VGG16_BLOCKS, (size, size, 3)
    if number == 2:
        return ("odd sizes: each pool drops the last row or column", _drawn_blocks(rng, 3, (2, 16)),
                _odd_sizes(rng, 3, 20, 64) + (1,))
    if number == 3:
        height, width = (int(n) for n in rng.choice(numpy.arange(8, 65), size=2, replace=False))
        return "not square", _drawn_blocks(rng, 2, (4, 32)), (height, width, 3)
    size = _integer(rng, 4, 32)
    return "one block", _drawn_blocks(rng, 1, (2, 16)), (size, size, rng.choice([1, 3]).item())


def check_block_output_shapes(block_output_shapes, points=DEFAULT_POINTS["block_output_shapes"], seed=0,
                              verbose=True):
    """Check ``block_output_shapes(blocks, input_shape) -> [(None, H, W, filters), ...]``.

    ``seed=0`` checks the cases of :data:`_SHAPE_CASES`; another seed draws new ones of the same kinds
    (VGG-16 on another image size, small images, odd sizes, not square, one block).

    Returns:
        Points earned (float).
    """
    cases = []
    for label, blocks, input_shape in drawn_cases(seed, _SHAPE_CASES, _drawn_shape_case):
        def run(notes, blocks=blocks, input_shape=input_shape):
            received = call_student("block_output_shapes", block_output_shapes, [tuple(b) for b in blocks],
                                    tuple(input_shape), notes=notes)
            expected = reference_block_output_shapes(blocks, input_shape)
            if not isinstance(received, (list, tuple)) or len(received) != len(expected):
                count = len(received) if isinstance(received, (list, tuple)) else f"a {type(received).__name__}"
                return [(1, f"a list of {len(expected)} shapes (one per block) expected, received {count}")]
            for block, (shape, got) in enumerate(zip(expected, received), start=1):
                problem = _shape_problem(f"block {block}", shape, got)
                if problem:
                    return [(1, problem)]
            return [(1, None)]

        cases.append((f"{label}: {_spec(blocks, input_shape)}", run))
    return run_cases("block_output_shapes", points, cases, verbose)


# --- the network ---------------------------------------------------------------------------------


def layer_names(blocks, dense_units):
    """Keras's names for the spec's layers after the input, in order."""
    names = []
    for block, (_, convolutions) in enumerate(blocks, start=1):
        names += [f"block{block}_conv{index}" for index in range(1, convolutions + 1)] + [f"block{block}_pool"]
    return names + ["flatten"] + [f"fc{number}" for number in range(1, len(dense_units) + 1)] + ["predictions"]


def reference_build_vgg(blocks, input_shape, dense_units, classes):
    """The spec's network with course_lib's layers, as :func:`course_lib.applications.vgg16.VGG16` builds its own."""
    import course_lib as keras
    from course_lib.applications.vgg16 import vgg_blocks, vgg_top

    inputs = keras.Input(shape=tuple(input_shape))
    outputs = vgg_top(vgg_blocks(inputs, blocks), dense_units, classes)
    return keras.Model(inputs, outputs, name="vgg")


def _described(result):
    if callable(getattr(result, "to_json", None)) and callable(getattr(result, "get_weights", None)):
        return {"model_json": result.to_json(), "weights": list(result.get_weights())}
    return result


def model_weights(name, result):
    """How many weights the returned model would have once rebuilt, read from its JSON before anything is built.

    The graph is followed as :meth:`course_lib.models.Model.from_config` follows
    it, each layer's output shape from its own ``compute_output_shape`` (an
    unbuilt layer: nothing allocated). None for a description that
    :func:`~course_lib.grading.harness.rebuilt_model` refuses before building
    anything (not JSON, too long, a layer not on :data:`MODEL_LAYERS`); it says why.

    Raises:
        StudentCodeError: for a graph the rebuild could only partly follow, or a shape that cannot be computed.
    """
    from course_lib import layers

    text = result.get("model_json") if isinstance(result, dict) else None
    if not isinstance(text, str) or len(text) > MODEL_LIMITS["json"]:
        return None
    try:
        config = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(config, dict) or config.get("class_name") not in ("Functional", "Model") \
            or config.get("registered_name") not in (None, config.get("class_name")) \
            or not isinstance(config.get("config"), dict):
        return None
    entries = config["config"].get("layers")
    if not isinstance(entries, list) or len(entries) > MODEL_LIMITS["layers"]:
        return None
    if not all(isinstance(entry, dict) and entry.get("class_name") in MODEL_LAYERS
               and entry.get("registered_name") in (None, entry.get("class_name"))
               and isinstance(entry.get("config"), dict) for entry in entries):
        return None

    def unreadable(what):
        return StudentCodeError(f"{name}: the returned model could not be rebuilt ({what})")

    names = [entry.get("name") for entry in entries]
    if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
        raise unreadable("every layer needs a name of its own")
    produced, total, pending = {}, 0, []
    for entry in entries:
        if entry["class_name"] == "InputLayer":
            shape = entry["config"].get("batch_shape")
            if not isinstance(shape, list) or not all(n is None or _is_int(n) for n in shape):
                raise unreadable(f"the input {entry['name']!r} has the shape {shown(shape)}")
            produced[(entry["name"], 0)] = tuple(shape)
        elif entry.get("inbound_nodes"):
            pending.append(entry)
    while pending:
        progressed = False
        for entry in list(pending):
            calls = entry["inbound_nodes"]
            done = sum(1 for key in produced if key[0] == entry["name"])
            if not isinstance(calls, list) or done >= len(calls):
                pending.remove(entry)
                continue
            try:
                first = calls[done]["args"][0]
                tensors = first if isinstance(first, list) else [first]
                history = [tuple(t["config"]["keras_history"]) for t in tensors]
                source, node, index = history[0]
                ready = (source, node) in produced
            except (KeyError, IndexError, TypeError, ValueError):
                raise unreadable(f"the call of layer {entry['name']!r} cannot be read") from None
            if len(history) != 1:
                raise StudentCodeError(f"{name}: layer {entry['name']!r} is called on {len(history)} tensors; "
                                       "the layers of this exercise take one")
            if not ready:
                continue
            if index != 0:
                raise unreadable(f"layer {entry['name']!r} reads output {shown(index)} of {source!r}, which has one")
            shape = produced[(source, node)]
            try:
                layer = layers.deserialize(entry, build=False)
                output = tuple(layer.compute_output_shape(shape))
            except Exception as error:
                raise unreadable(f"{type(error).__name__}: {shown(str(error), 200)}") from None
            if entry["class_name"] in ("Conv2D", "Dense"):
                inputs = shape[-1]
                if not _is_int(inputs):
                    raise unreadable(f"layer {entry['name']!r} reads {shown(inputs)} channels")
                if entry["class_name"] == "Conv2D":
                    total += math.prod(layer.kernel_size) * (inputs // max(layer.groups, 1)) * layer.filters
                    total += layer.filters
                else:
                    total += (inputs + 1) * layer.units
            produced[(entry["name"], done)] = output
            progressed = True
        if not progressed and pending:
            raise unreadable(f"layers {shown([entry['name'] for entry in pending], 100)} wait for inputs that no "
                             "layer produces")
    return total


def rebuilt_vgg(name, result):
    """The returned model, rebuilt in the grader once its size is known to be within :data:`MAX_WEIGHTS`."""
    result = _described(result)
    weights = model_weights(name, result)
    if weights is not None and weights > MAX_WEIGHTS:
        raise StudentCodeError(f"{name}: the returned model would have {weights:,} weights; at most "
                               f"{MAX_WEIGHTS:,} are accepted here (the specs graded need far fewer)")
    return rebuilt_model(name, result, layers=MODEL_LAYERS)


def _layer_rows(model):
    return [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]


def _setting_problem(layer):
    """None when the layer of its name is set up as the spec says, else a reason."""
    kind, name, config = type(layer).__name__, layer.name, layer.get_config()
    if name.startswith("block") and "_conv" in name:
        wanted = {"kernel_size": (3, 3), "strides": (1, 1), "padding": "same", "activation": "relu"}
    elif name.endswith("_pool"):
        wanted = {"pool_size": (2, 2), "strides": (2, 2), "padding": "valid"}
    elif name.startswith("fc"):
        wanted = {"activation": "relu"}
    elif name == "predictions":
        wanted = {"activation": "softmax"}
    else:
        return None
    for key, value in wanted.items():
        found = config.get(key)
        found = tuple(found) if isinstance(found, list) else found
        if found != value:
            return f"{kind} {name!r}: {key}={value!r} expected, it has {key}={shown(found)}"
    return None


def _random_weights(model, rng):
    """He-scaled normal kernels and small biases: activations neither vanish nor explode."""
    weights = []
    for weight in model.get_weights():
        if weight.ndim > 1:
            scale = numpy.sqrt(2.0 / math.prod(weight.shape[:-1]))
            weights.append((rng.normal(size=weight.shape) * scale).astype(weight.dtype))
        else:
            weights.append(rng.normal(scale=0.1, size=weight.shape).astype(weight.dtype))
    return weights


def _network_problems(model, blocks, input_shape, dense_units, classes, rng):
    """Five equal parts: the layers and their names, output shapes, parameters, settings, the forward pass."""
    reference = reference_build_vgg(blocks, input_shape, dense_units, classes)
    reference.set_weights(_random_weights(reference, rng))
    theirs = {layer.name: layer for layer in model.layers}
    expected_rows = [(type(layer).__name__, layer.name) for layer in _layer_rows(reference)]
    rows = [(type(layer).__name__, layer.name) for layer in _layer_rows(model)]
    names = None
    if rows != expected_rows:
        position = next((i for i, (a, b) in enumerate(zip(expected_rows, rows)) if a != b), None)
        if position is None:
            names = (f"{len(expected_rows)} layers after the input expected, the model has {len(rows)} "
                     f"({'missing' if len(rows) < len(expected_rows) else 'extra'}: "
                     f"{shown(expected_rows[len(rows):] or rows[len(expected_rows):], 100)})")
        else:
            names = (f"layer {position + 1} after the input: {expected_rows[position][0]} "
                     f"{expected_rows[position][1]!r} expected, found {rows[position][0]} {rows[position][1]!r}")
    inputs = [tuple(tensor.shape) for tensor in model.inputs]
    shapes = None if inputs == [(None,) + tuple(input_shape)] else (
        f"the input shape (None,) + {tuple(input_shape)} expected, the model has {shown(inputs)}")
    counts = None
    settings = None
    for layer in _layer_rows(reference):
        mine = theirs.get(layer.name)
        if mine is None:
            shapes = shapes or f"no layer named {layer.name!r}"
            counts = counts or f"no layer named {layer.name!r}"
            settings = settings or f"no layer named {layer.name!r}"
            continue
        expected_shape, received_shape = tuple(layer.output.shape), tuple(mine.output.shape)
        if received_shape != expected_shape:
            shapes = shapes or f"{layer.name!r} output shape {expected_shape} expected, received {received_shape}"
        if mine.count_params() != layer.count_params():
            counts = counts or (f"{layer.name!r} has {mine.count_params():,} parameters, "
                                f"{layer.count_params():,} expected")
        settings = settings or _setting_problem(mine)
    if counts is None and model.count_params() != reference.count_params():
        counts = f"{model.count_params():,} parameters in all, {reference.count_params():,} expected"
    forward = _forward_problem(model, reference, input_shape, rng)
    return [(1, names), (1, shapes), (1, counts), (1, settings), (1, forward)]


def _forward_problem(model, reference, input_shape, rng):
    """The model with the reference's weights copied in must predict what the reference predicts."""
    expected_shapes = [w.shape for w in reference.get_weights()]
    shapes = [w.shape for w in model.get_weights()]
    if shapes != expected_shapes:
        return f"the forward pass was not compared: the weights have shapes {shown(shapes, 120)}, not those of the spec"
    x = rng.uniform(0.0, 1.0, size=(2,) + tuple(input_shape)).astype("float32")
    try:
        model.set_weights(reference.get_weights())
        received = model.predict(x, verbose=0)
    except Exception as error:
        return f"the model could not predict ({type(error).__name__}: {shown(str(error), 200)})"
    problem = compare("predictions on a fixed input, with the reference's weights", reference.predict(x, verbose=0),
                      received, tolerance=1e-4)
    return problem


_NETWORK_CASES = [  # (blocks, input_shape, dense_units, classes): small, at most 13 layers
    ([(8, 1), (16, 2)], (32, 32, 3), (64,), 10),
    ([(4, 2), (8, 1), (8, 1)], (24, 40, 1), (16, 16), 5),
    ([(6, 1)], (17, 17, 3), (), 3),
]


def _drawn_network_case(rng, number):
    """A new small spec of the kind of ``_NETWORK_CASES[number]``, under 100,000 parameters."""
    while True:
        if number == 0:  # two blocks, one hidden layer
            size = _integer(rng, 16, 32)
            case = (_drawn_blocks(rng, 2, (4, 16)), (size, size, 3), (_integer(rng, 16, 64),), _integer(rng, 2, 10))
        elif number == 1:  # three blocks, grey images, not square, two hidden layers
            height, width = (int(n) for n in rng.choice(numpy.arange(16, 41), size=2, replace=False))
            case = (_drawn_blocks(rng, 3, (2, 8)), (height, width, 1), (_integer(rng, 8, 32), _integer(rng, 8, 32)),
                    _integer(rng, 2, 8))
        else:  # one block on an odd size, no hidden layer
            size = 2 * _integer(rng, 4, 10) + 1
            case = (_drawn_blocks(rng, 1, (2, 8)), (size, size, 3), (), _integer(rng, 2, 5))
        if reference_vgg_param_count(*case) < 100_000:
            return case


def check_build_vgg(build_vgg, points=DEFAULT_POINTS["build_vgg"], seed=0, verbose=True):
    """Check ``build_vgg(blocks, input_shape, dense_units, classes) -> Model`` on small specs.

    Each spec is five equal parts: the layers in order with Keras's names,
    the output shapes, the parameters of each layer, the layers' settings (3x3
    ``same`` ReLU convolutions, 2x2 pools of stride 2, ReLU hidden layers, a
    softmax), and the predictions on a fixed input once the reference's
    weights are copied in. ``seed=0`` checks the specs of :data:`_NETWORK_CASES`;
    another seed draws new small specs of the same kinds.

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for blocks, input_shape, dense_units, classes in drawn_cases(seed, _NETWORK_CASES, _drawn_network_case):
        def run(notes, blocks=blocks, input_shape=input_shape, dense_units=dense_units, classes=classes):
            result = call_student("build_vgg", build_vgg, [tuple(b) for b in blocks], tuple(input_shape),
                                  tuple(dense_units), classes, notes=notes)
            model = rebuilt_vgg("build_vgg", result)
            return _network_problems(model, blocks, input_shape, dense_units, classes, rng)

        cases.append((_spec(blocks, input_shape, dense_units, classes), run))
    return run_cases("build_vgg", points, cases, verbose)


_CHECKERS = {
    "conv_params": (check_conv_params, None),
    "dense_params": (check_dense_params, None),
    "block_output_shapes": (check_block_output_shapes, None),
    "vgg_param_count": (check_vgg_param_count, None),
    "build_vgg": (check_build_vgg, None),
}
