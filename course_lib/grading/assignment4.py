"""Checkers for assignment 4 (the functional API: two inputs, a shared layer, two outputs).

The answers build and train models with course_lib itself, so this notebook's
sandbox imports the real library (``USES_COURSE_LIB``). A returned model
reaches the checker as its architecture and weights and is rebuilt in the
grader (:func:`course_lib.grading.harness.rebuilt_model`), which scores it on
digits it never saw.
"""
from __future__ import annotations

import numpy

from course_lib.grading.harness import (
    StudentCodeError,
    call_student,
    compare,
    rebuilt_model,
    run_cases,
    shown,
    unpack,
)

USES_COURSE_LIB = True
"""The answers use ``import course_lib as keras``: the library is the tool here, not the exercise."""

DEFAULT_POINTS = {
    "split_halves": 2,
    "build_model": 3,
    "train_model": 5,
}

HALF = 32
"""Pixels in each half of an 8x8 digit: the size of each of the model's inputs."""
TARGET_ACCURACY = {"digit": 0.90, "odd": 0.90}
"""Test accuracy of each head that earns all of its points; chance is 0.1 and 0.5."""
CHANCE = {"digit": 0.1, "odd": 0.5}


def _copy(value):
    return numpy.array(value, copy=True)


# --- splitting the images ---------------------------------------------------------


def reference_split_halves(images, width=8):
    """``(left, right)``: the left and right ``width // 2`` columns of each row-major image, flattened."""
    count = images.shape[0]
    grid = images.reshape(count, -1, width)
    half = width // 2
    return grid[:, :, :half].reshape(count, -1), grid[:, :, half:].reshape(count, -1)


def _split_cases(rng):
    for count, height, width in [(5, 8, 8), (1, 8, 8), (7, 3, 6), (4, 1, 2), (40, 8, 8)]:
        yield count, width, rng.random((count, height * width))


def check_split_halves(split_halves, points=DEFAULT_POINTS["split_halves"], seed=0, verbose=True):
    """Check ``split_halves(images, width) -> (left, right)`` on random images of several sizes.

    Each case is three quarters the two halves, a quarter ``images`` left unchanged.

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for count, width, images in _split_cases(rng):
        def run(notes, images=images, width=width):
            given = _copy(images)
            result = call_student("split_halves", split_halves, given, width, notes=notes)
            left, right = unpack("split_halves", result, 2, "(left, right)")
            expected_left, expected_right = reference_split_halves(images, width)
            problem = compare("left", expected_left, left) or compare("right", expected_right, right)
            unchanged = None if numpy.array_equal(given, images) else "images was modified: leave the input unchanged"
            return [(3, problem), (1, unchanged)]

        cases.append((f"{count} images of width {width}", run))
    return run_cases("split_halves", points, cases, verbose)


# --- the model's graph --------------------------------------------------------------


def _calls(model, layer):
    """How often ``layer`` is called in ``model``'s graph."""
    return sum(node.layer is layer for node in model._nodes)


def _layer_or_none(model, name):
    try:
        return model.get_layer(name)
    except ValueError:
        return None


def _callers(model, layer):
    """The layers whose outputs feed ``layer`` at each of its calls in ``model``."""
    return [[tensor.node.layer for tensor in node.inputs] for node in model._nodes if node.layer is layer]


def _structure_problems(model, hidden_units):
    """The four parts of the specified graph, each ``(weight, reason or None)``."""
    inputs = [(tensor.name, tuple(tensor.shape)) for tensor in model.inputs]
    expected_inputs = [("left", (None, HALF)), ("right", (None, HALF))]
    input_problem = None if inputs == expected_inputs else (
        f"the inputs must be {expected_inputs} (name, shape); they are {shown(inputs, 120)}")

    encoder = _layer_or_none(model, "encoder")
    encoder_problem = None
    if encoder is None or type(encoder).__name__ != "Dense":
        encoder_problem = "no Dense layer named 'encoder'"
    elif encoder.units != hidden_units or encoder.get_config()["activation"] != "relu":
        encoder_problem = (f"'encoder' must be Dense({hidden_units}, activation='relu'); it is "
                           f"Dense({encoder.units}, activation={encoder.get_config()['activation']!r})")
    elif len(_callers(model, encoder)) != 2:
        encoder_problem = (f"'encoder' must be one layer called on both inputs; it is called "
                           f"{len(_callers(model, encoder))} time(s)")

    joins = [node.layer for node in model._nodes if type(node.layer).__name__ == "Concatenate"
             and encoder is not None and [t.node.layer for t in node.inputs] == [encoder, encoder]]
    join_problem = None if joins else "no Concatenate layer joining the encoder's two outputs"

    outputs = [tensor.node.layer.name for tensor in model.outputs]
    head_problem = None
    if outputs != ["digit", "odd"]:
        head_problem = f"the outputs must be ['digit', 'odd'], in that order; they are {shown(outputs)}"
    for name, units, activation in [("digit", 10, "softmax"), ("odd", 1, "sigmoid")]:
        head = _layer_or_none(model, name)
        if head_problem is not None:
            break
        settings = head.get_config()
        if type(head).__name__ != "Dense" or (settings.get("units"), settings.get("activation")) != (units, activation):
            head_problem = f"'{name}' must be Dense({units}, activation={activation!r})"
        elif [[type(layer).__name__ for layer in call] for call in _callers(model, head)] != [["Concatenate"]]:
            head_problem = f"'{name}' must read the concatenated encodings (one call, on the Concatenate)"
    return [(1, input_problem), (1, encoder_problem), (1, join_problem), (1, head_problem)]


def reference_build_model(hidden_units=32):
    """The specified model: a shared Dense encoder on both halves, concatenated, two heads."""
    import course_lib as keras

    left = keras.Input(shape=(HALF,), name="left")
    right = keras.Input(shape=(HALF,), name="right")
    encoder = keras.layers.Dense(hidden_units, activation="relu", name="encoder")
    joined = keras.layers.Concatenate()([encoder(left), encoder(right)])
    digit = keras.layers.Dense(10, activation="softmax", name="digit")(joined)
    odd = keras.layers.Dense(1, activation="sigmoid", name="odd")(joined)
    return keras.Model(inputs=[left, right], outputs=[digit, odd])


def check_build_model(build_model, points=DEFAULT_POINTS["build_model"], seed=0, verbose=True):
    """Check ``build_model(hidden_units) -> Model``: its inputs, the shared encoder, the join and the heads.

    Each case (a width of the encoder) has the four parts of the graph, equal weights. ``seed=0``
    checks the widths 32 and 8; another seed draws two other widths.

    Returns:
        Points earned (float).
    """
    cases = []
    widths = (32, 8) if seed == 0 else tuple(int(n) for n in numpy.random.default_rng(seed).choice(
        [n for n in range(4, 65) if n not in (32, 8)], size=2, replace=False))
    for hidden_units in widths:
        def run(notes, hidden_units=hidden_units):
            result = call_student("build_model", build_model, hidden_units, notes=notes)
            return _structure_problems(rebuilt_model("build_model", result), hidden_units)

        cases.append((f"hidden_units={hidden_units}", run))
    return run_cases("build_model", points, cases, verbose)


# --- training -----------------------------------------------------------------------


def _accuracies(model, left, right, digits):
    """Test accuracy of each head of the rebuilt model, in the grader."""
    digit_probabilities, odd_probabilities = model.predict([left, right], verbose=0)
    odd = digits % 2
    return {"digit": float(numpy.mean(numpy.argmax(digit_probabilities, axis=-1) == digits)),
            "odd": float(numpy.mean((numpy.asarray(odd_probabilities)[:, 0] > 0.5) == odd))}


def check_train_model(train_model, points=DEFAULT_POINTS["train_model"], time_limit=120.0, seed=0, verbose=True):
    """Train with the student's ``train_model(left, right, digit, odd)`` and score the returned model.

    One point for the graph (the same four parts as ``build_model``, in
    quarters); two per head for its test accuracy: all of them at
    :data:`TARGET_ACCURACY` or above, a linear share between chance and the
    target below it. ``seed=0`` passes the halves as they are; another seed
    shuffles the training images and reorders the 32 pixels of every half in
    one random order (the same for both halves, which share the encoder):
    the network learns as well, weights trained elsewhere do not fit.

    Returns:
        Points earned (float).
    """
    from course_lib.datasets import digits

    (x_train, y_train), (x_test, y_test) = digits.load_data()
    left_train, right_train = reference_split_halves(x_train)
    left_test, right_test = reference_split_halves(x_test)
    if seed != 0:
        rng = numpy.random.default_rng(seed)
        pixels, order = rng.permutation(left_train.shape[1]), rng.permutation(len(x_train))
        left_train, right_train, y_train = left_train[order][:, pixels], right_train[order][:, pixels], y_train[order]
        left_test, right_test = left_test[:, pixels], right_test[:, pixels]
    odd_train = (y_train % 2).astype("float32").reshape(-1, 1)

    def run(notes):
        result = call_student("train_model", train_model, _copy(left_train), _copy(right_train), _copy(y_train),
                              _copy(odd_train), time_limit=time_limit, notes=notes)
        model = rebuilt_model("train_model", result)
        hidden = getattr(_layer_or_none(model, "encoder"), "units", None)
        parts = [(0.25, reason) for _, reason in _structure_problems(model, hidden)]
        try:
            accuracy = _accuracies(model, left_test, right_test, y_test)
        except Exception as error:
            raise StudentCodeError(f"could not evaluate the returned model ({type(error).__name__}: "
                                   f"{shown(str(error), 200)})") from None
        for head, target in TARGET_ACCURACY.items():
            share = min(1.0, max(0.0, (accuracy[head] - CHANCE[head]) / (target - CHANCE[head])))
            notes.append(f"test accuracy of '{head}' {accuracy[head]:.3f} (target {target:.2f})")
            parts.append((2 * share, None))
            if share < 1:
                parts.append((2 * (1 - share), f"'{head}' test accuracy {accuracy[head]:.3f}; expected >= {target:.2f}"))
        return parts

    return run_cases("train_model", points, [("digits, left and right halves", run)], verbose)


_CHECKERS = {
    "split_halves": (check_split_halves, None),
    "build_model": (check_build_model, None),
    "train_model": (check_train_model, None),
}
