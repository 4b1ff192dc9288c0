"""Assignment 4 (the functional API): its checkers, the model they rebuild, and nbgrader on the notebooks.

The answers build with course_lib itself, so the grader's sandbox imports the
real library and a returned model crosses to the grader as its JSON and
weights. The checkers must give full points to the references and to the
solution notebook, fewer to each planted bug, nothing to the release; a model
description a student forged must cost points, never crash or overload the
grader; Keras's own spelling (``from tensorflow import keras``) earns nothing.
"""
import json
import textwrap

import numpy as np
import pytest
from graded_notebooks import (
    Assignment, answer_functions, cell, full_points_tests, planted, planted_bug_tests, submission,
)

import course_lib as cl
from course_lib.grading import assignment4, harness, trusted

ASSIGNMENT = "assignment4"
NOTEBOOK = Assignment(ASSIGNMENT)
FULL = NOTEBOOK.full
SOLUTION = answer_functions(NOTEBOOK.solution)


# --- the references and the solution notebook earn everything -----------------------


test_the_reference_earns_full_points, test_the_solution_notebook_earns_full_points_and_the_release_nothing = (
    full_points_tests(NOTEBOOK, references=["split_halves", "build_model"]))


# --- planted bugs earn less, with a reason ------------------------------------------------

SPLIT_SOURCE = """
    def split_halves(images, width=8):
        grid = images.reshape(images.shape[0], -1, width)
        half = width // 2
        return grid[:, :, :half].reshape(images.shape[0], -1), grid[:, :, half:].reshape(images.shape[0], -1)
    """
BUILD_SOURCE = """
    def build_model(hidden_units=32):
        left = keras.Input(shape=(32,), name="left")
        right = keras.Input(shape=(32,), name="right")
        encoder = keras.layers.Dense(hidden_units, activation="relu", name="encoder")
        second = encoder
        joined = keras.layers.Concatenate()([encoder(left), second(right)])
        digit = keras.layers.Dense(10, activation="softmax", name="digit")(joined)
        odd = keras.layers.Dense(1, activation="sigmoid", name="odd")(joined)
        return keras.Model(inputs=[left, right], outputs=[digit, odd])
    """
TRAIN_SOURCE = """
    def train_model(left, right, digit, odd):
        keras.utils.set_random_seed(0)
        model = build_model(32)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01),
                      loss=["sparse_categorical_crossentropy", "binary_crossentropy"])
        model.fit([left, right], [digit, odd], epochs=30, batch_size=32, verbose=0)
        return model
    """
SOURCES = {"split_halves": SPLIT_SOURCE, "build_model": BUILD_SOURCE, "train_model": TRAIN_SOURCE}
BUGS = {
    "split_halves": {
        "top and bottom instead of left and right": ("grid[:, :, :half]", "grid[:, :half, :]"),
        "the halves swapped": ("return grid[:, :, :half].reshape(images.shape[0], -1), grid[:, :, half:]",
                               "return grid[:, :, half:].reshape(images.shape[0], -1), grid[:, :, :half]"),
        "the input changed in place": ("half = width // 2", "half = width // 2\n        images *= 1.0001"),
    },
    "build_model": {
        "two encoders, not one shared": ("second = encoder", "second = keras.layers.Dense(hidden_units, activation='relu')"),
        "the outputs swapped": ("outputs=[digit, odd]", "outputs=[odd, digit]"),
        "the inputs joined, not their encodings": ("([encoder(left), second(right)])",
                                                   "([left, right]); encoder(left); second(right)"),
        "a softmax for odd or even": ('Dense(1, activation="sigmoid"', 'Dense(1, activation="softmax"'),
        "the width ignored": ("Dense(hidden_units, activation", "Dense(16, activation"),
    },
    "train_model": {
        "never trained": ("model.fit(", "0 and model.fit("),
        "one epoch at a crawl": ("epochs=30", "epochs=1"),
    },
}
NAMESPACE = "import course_lib as keras\n"


def plant(name, old="", new=""):
    extra = NAMESPACE + (textwrap.dedent(BUILD_SOURCE) if name == "train_model" else "")
    return planted(SOURCES[name], name, old, new, extra=extra)


test_the_sources_the_bugs_are_planted_into_earn_full_points, test_each_planted_bug_earns_less_and_says_why = \
    planted_bug_tests(NOTEBOOK, SOURCES, BUGS, plant)


def test_an_unshared_encoder_is_named_as_the_problem(capsys):
    NOTEBOOK.checker("build_model")(plant("build_model", *BUGS["build_model"]["two encoders, not one shared"]))
    assert "'encoder' must be one layer called on both inputs; it is called 1 time(s)" in capsys.readouterr().out


# --- what the grader rebuilds: only the allowed layers, within bounds ------------------------


def described(model):
    return {"model_json": model.to_json(), "weights": model.get_weights()}


def with_layers(edit):
    description = described(assignment4.reference_build_model(8))
    config = json.loads(description["model_json"])
    edit(config["config"]["layers"])
    return dict(description, model_json=json.dumps(config))


def _unknown_class(layers):
    layers[2]["class_name"] = "Lambda"


def _huge_layer(layers):
    layers[2]["config"]["units"] = 10**6


def _many_layers(layers):
    layers.extend([layers[-1]] * 20)


FORGED_MODELS = {
    "a number": (3, "must return a course_lib Model"),
    "not JSON": ({"model_json": "{", "weights": []}, "is not JSON"),
    "a Sequential's name": ({"model_json": json.dumps({"class_name": "Sequential", "config": {}}), "weights": []},
                            "must return a functional model"),
    "a class course_lib would not build here": (with_layers(_unknown_class), "'Lambda' layer"),
    "a layer a million wide": (with_layers(_huge_layer), "each must be a whole number from 1 to 512"),
    "too many layers": (with_layers(_many_layers), "at most 16 are accepted"),
    "weights that do not fit": (dict(described(assignment4.reference_build_model(8)), weights=[np.ones(3)]),
                                "could not be rebuilt"),
}


@pytest.mark.parametrize("forgery", sorted(FORGED_MODELS))
def test_a_forged_model_description_costs_points_and_says_why(forgery, capsys):
    result, reason = FORGED_MODELS[forgery]
    with pytest.raises(harness.StudentCodeError, match=reason):
        harness.rebuilt_model("build_model", result)
    assert NOTEBOOK.checker("build_model")(lambda hidden_units: result) == 0.0
    assert reason in capsys.readouterr().out


def test_the_rebuilt_model_is_the_returned_one():
    cl.utils.set_random_seed(3)
    original = assignment4.reference_build_model(8)
    rebuilt = harness.rebuilt_model("build_model", described(original))
    x = [np.random.default_rng(0).random((5, 32), dtype=np.float32) for _ in range(2)]
    for ours, theirs in zip(original.predict(x, verbose=0), rebuilt.predict(x, verbose=0)):
        np.testing.assert_array_equal(ours, theirs)
    assert harness.rebuilt_model("build_model", original).count_params() == original.count_params()


@pytest.mark.parity
def test_the_reference_model_is_the_same_model_in_keras():
    """Built with tf.keras the same way, with the same weights: the same parameters and predictions."""
    from tensorflow import keras

    left, right = keras.Input(shape=(32,), name="left"), keras.Input(shape=(32,), name="right")
    encoder = keras.layers.Dense(8, activation="relu", name="encoder")
    joined = keras.layers.Concatenate()([encoder(left), encoder(right)])
    theirs = keras.Model([left, right], [keras.layers.Dense(10, activation="softmax", name="digit")(joined),
                                         keras.layers.Dense(1, activation="sigmoid", name="odd")(joined)])
    ours = assignment4.reference_build_model(8)
    cl.testing.copy_weights(theirs, ours)
    assert ours.count_params() == theirs.count_params()
    x = [np.random.default_rng(1).random((6, 32), dtype=np.float32) for _ in range(2)]
    for mine, keras_out in zip(ours.predict(x, verbose=0), theirs.predict(x, verbose=0)):
        np.testing.assert_allclose(mine, keras_out, rtol=1e-5, atol=1e-6)


# --- the trusted grader: course_lib allowed, Keras and the references not ------------------------


STUB = "".join(cell(NOTEBOOK.release, "build_model_answer")["source"])
FORGERIES = {
    "prints a number": "print(3.0)\n" + STUB,
    "Keras itself": "from tensorflow import keras as tf_keras\n" + BUILD_SOURCE.replace("keras.", "tf_keras."),
    "the checker's reference": ("from course_lib.grading.assignment4 import reference_build_model\n"
                                "def build_model(hidden_units=32):\n    return reference_build_model(hidden_units)\n"),
}


def test_the_solution_is_graded_in_a_sandbox_with_course_lib():
    assert trusted.forbidden_modules(ASSIGNMENT) != trusted.FORBIDDEN_MODULES
    assert "course_lib.layers" not in trusted.forbidden_modules(ASSIGNMENT)
    assert "course_lib.grading.assignment4" in trusted.forbidden_modules(ASSIGNMENT)
    assert NOTEBOOK.trusted_scores(NOTEBOOK.solution) == FULL


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_forged_answer_earns_nothing_for_its_exercise(forgery):
    forged = submission(NOTEBOOK.solution, build_model_answer=FORGERIES[forgery])
    scores = NOTEBOOK.trusted_scores(forged)
    assert scores["build_model"] == 0.0 and scores["split_halves"] == FULL["split_halves"]


@pytest.fixture(scope="module")
def autograded(autograde):
    """The solution, the blank release and a forgery through one ``nbgrader autograde``."""
    forged = submission(NOTEBOOK.solution, build_model_answer=FORGERIES["the checker's reference"] + "print(3.0)\n")
    return autograde(ASSIGNMENT, {"alice": NOTEBOOK.solution, "bob": lambda release: release, "mallory": forged})


@pytest.mark.slow
def test_nbgrader_autogrades_solution_release_and_forgery(autograded):
    assert autograded["alice"] == pytest.approx(FULL)
    assert sum(autograded["bob"].values()) == 0.0
    assert autograded["mallory"]["build_model"] == 0.0
    assert autograded["mallory"]["split_halves"] == FULL["split_halves"]


@pytest.mark.parametrize("imports, verdict", [
    ("import course_lib as keras", None),
    ("from tensorflow import keras", "tensorflow"),
    ("import keras", "keras"),
    ("from course_lib.grading import assignment4 as keras", "course_lib.grading.assignment4"),
])
def test_the_policy_reads_a_name_as_the_module_it_was_imported_as(imports, verdict):
    answer = "model = keras.layers.Dense(3)"
    aliases = trusted.import_aliases([imports])
    forbidden = trusted.forbidden_modules(ASSIGNMENT)
    assert trusted.policy_violation(answer, forbidden, aliases) == verdict
    assert trusted.policy_violation(imports + "\n" + answer, forbidden, aliases) == verdict
