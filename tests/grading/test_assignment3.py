"""Assignment 3 (shapes): its checkers, their references against tf.keras, and nbgrader on the notebooks.

The checkers must give full points to the references and to the solution
notebook's functions, fewer to each planted bug, nothing to the release's
stubs; the references must agree with what Keras itself reports
(``layer.output.shape``, ``count_params()``) for random models; the trusted
grader and nbgrader must give nothing to forged answers.
"""
import numpy as np
import pytest
from graded_notebooks import Assignment, cell, full_points_tests, planted, planted_bug_tests, submission

from course_lib.grading import assignment3

ASSIGNMENT = "assignment3"
NOTEBOOK = Assignment(ASSIGNMENT)
FULL = NOTEBOOK.full


# --- the references and the solution notebook earn everything -----------------------


test_the_reference_earns_full_points, test_the_solution_notebook_earns_full_points_and_the_release_nothing = (
    full_points_tests(NOTEBOOK))


def test_the_broken_function_of_the_notebook_earns_nothing(capsys):
    """Each of its three bugs is caught: the broken original fails every case."""
    namespace = {"np": np}
    exec("".join(cell(NOTEBOOK.solution, "broken_mlp_probabilities")["source"]), namespace)
    assert NOTEBOOK.checker("mlp_probabilities")(namespace["broken_mlp_probabilities"]) == 0.0
    assert "probabilities" in capsys.readouterr().out


# --- planted bugs earn less, with a reason ------------------------------------------------

SHAPE_SOURCE = """
    def dense_output_shape(input_shape, units):
        return tuple(input_shape[:-1]) + (units,)
    """
COUNT_SOURCE = """
    def count_params(layer_sizes, use_bias=True):
        total = 0
        for inputs, units in zip(layer_sizes[:-1], layer_sizes[1:]):
            total += inputs * units + (units if use_bias else 0)
        return total
    """
SUMMARY_SOURCE = """
    def layer_summary(input_shape, layers):
        shape = (None,) + tuple(input_shape)
        rows = []
        for layer in layers:
            kind, params = layer[0], 0
            sample = shape[1:]
            size = None if None in sample else int(np.prod(sample))
            if kind == "Dense":
                params = shape[-1] * layer[1] + (layer[1] if layer[2] else 0)
                shape = shape[:-1] + (layer[1],)
            elif kind == "Flatten":
                shape = (None, size)
            elif kind == "Reshape":
                target = tuple(layer[1])
                known = int(np.prod([n for n in target if n != -1]))
                if size is not None and (size % known if -1 in target else size != known):
                    raise ValueError("sizes differ")
                shape = (None,) + tuple((None if size is None else size // known) if n == -1 else n
                                        for n in target)
            rows.append((shape, params))
        return rows
    """
PROBABILITIES_SOURCE = """
    def mlp_probabilities(images, params):
        flat = images.reshape(images.shape[0], -1)
        hidden = np.maximum(flat @ params["W1"] + params["b1"], 0)
        scores = hidden @ params["W2"] + params["b2"]
        exps = np.exp(scores - scores.max(axis=1, keepdims=True))
        return exps / exps.sum(axis=1, keepdims=True)
    """
SOURCES = {"dense_output_shape": SHAPE_SOURCE, "count_params": COUNT_SOURCE, "layer_summary": SUMMARY_SOURCE,
           "mlp_probabilities": PROBABILITIES_SOURCE}
BUGS = {
    "dense_output_shape": {
        "drops the batch axis": ("tuple(input_shape[:-1])", "tuple(input_shape[1:-1])"),
        "a list, not a tuple": ("return tuple(input_shape[:-1]) + (units,)", "return list(input_shape[:-1]) + [units]"),
        "replaces every axis after the batch": ("tuple(input_shape[:-1])", "tuple(input_shape[:1])"),
    },
    "count_params": {
        "ignores use_bias": ("(units if use_bias else 0)", "units"),
        "one bias per input (off by one layer)": ("(units if use_bias else 0)", "(inputs if use_bias else 0)"),
        "counts the input as a layer": ("zip(layer_sizes[:-1], layer_sizes[1:])",
                                        "zip([0] + list(layer_sizes[:-1]), layer_sizes)"),
        "a float": ("return total", "return float(total)"),
    },
    "layer_summary": {
        "Dense sees the whole sample, not the last axis": ("params = shape[-1] * layer[1]", "params = size * layer[1]"),
        "Dense without bias counted with one": ("(layer[1] if layer[2] else 0)", "layer[1]"),
        "Flatten forgets the batch axis": ("shape = (None, size)", "shape = (size,)"),
        "Reshape keeps -1": ("(None if size is None else size // known) if n == -1 else n", "n"),
        "no ValueError for a Reshape that cannot fit": ('raise ValueError("sizes differ")', "pass"),
        "Dropout off by one axis": ("rows.append((shape, params))",
                                    "rows.append((shape + (1,) if kind == 'Dropout' else shape, params))"),
    },
    "mlp_probabilities": {
        "scrambling reshape": ("images.reshape(images.shape[0], -1)", "images.reshape(-1, images.shape[0]).T"),
        "transposed W2": ('params["W2"] + params["b2"]', 'params["W2"].T + params["b2"]'),
        "softmax over the batch axis": ("exps / exps.sum(axis=1, keepdims=True)", "exps / exps.sum(axis=0)"),
        "no max shift": ("np.exp(scores - scores.max(axis=1, keepdims=True))", "np.exp(scores)"),
    },
}


def plant(name, old="", new=""):
    return planted(SOURCES[name], name, old, new)


test_the_sources_the_bugs_are_planted_into_earn_full_points, test_each_planted_bug_earns_less_and_says_why = \
    planted_bug_tests(NOTEBOOK, SOURCES, BUGS, plant)


def test_reasons_name_the_layer_and_the_numbers(capsys):
    flatten = planted(SUMMARY_SOURCE, "layer_summary", *BUGS["layer_summary"]["Flatten forgets the batch axis"])
    NOTEBOOK.checker("layer_summary")(flatten)
    assert "layer 3 (Flatten) output shape: (None, 128) expected, received (128,)" in capsys.readouterr().out
    no_error = planted(SUMMARY_SOURCE, "layer_summary",
                       *BUGS["layer_summary"]["no ValueError for a Reshape that cannot fit"])
    NOTEBOOK.checker("layer_summary")(no_error)
    assert "a ValueError expected" in capsys.readouterr().out


def test_an_answer_repr_cannot_show_costs_points_not_the_checker(capsys):
    """A list nested deeper than repr goes made the checkers raise RecursionError, which would crash the grader."""
    deep = []
    for _ in range(10_000):
        deep = [deep]
    assert NOTEBOOK.checker("dense_output_shape")(lambda input_shape, units: (deep,)) == 0.0
    assert NOTEBOOK.checker("count_params")(lambda *args: deep) == 0.0
    assert "received a list [[[[...]]]]" in capsys.readouterr().out


# --- the references against tf.keras ---------------------------------------------------------


def keras_rows(keras, input_shape, specs):
    layers = {"Dense": lambda s: keras.layers.Dense(s[1], use_bias=s[2]), "Flatten": lambda s: keras.layers.Flatten(),
              "Reshape": lambda s: keras.layers.Reshape(tuple(s[1])), "Dropout": lambda s: keras.layers.Dropout(s[1])}
    model = keras.Sequential([keras.Input(shape=input_shape)] + [layers[spec[0]](spec) for spec in specs])
    return [(tuple(layer.output.shape), layer.count_params()) for layer in model.layers]


@pytest.mark.parity
def test_the_summary_reference_matches_keras_on_random_models():
    from tensorflow import keras

    rng = np.random.default_rng(11)
    models = [assignment3.random_model(rng) for _ in range(8)]
    models += [(shape, specs) for label, shape, specs in assignment3._summary_cases(np.random.default_rng(0))
               if "do not match" not in label]
    for input_shape, specs in models:
        assert assignment3.reference_layer_summary(input_shape, specs) == keras_rows(keras, input_shape, specs), specs


@pytest.mark.parity
def test_the_references_match_keras_on_counts_shapes_and_refusals():
    from tensorflow import keras

    assert assignment3.reference_count_params([2]) == 0  # no layer (Keras cannot build an empty Sequential)
    for sizes, use_bias in [([784, 128, 10], True), ([5, 1, 7, 3], False), ([3, 4], True)]:
        model = keras.Sequential([keras.Input(shape=(sizes[0],))]
                                 + [keras.layers.Dense(units, use_bias=use_bias) for units in sizes[1:]])
        assert assignment3.reference_count_params(sizes, use_bias) == model.count_params()
    for input_shape in [(None, 12), (7, 3, 4), (None, None, 5)]:
        layer = keras.layers.Dense(6)
        assert assignment3.reference_dense_output_shape(input_shape, 6) == tuple(layer.compute_output_shape(input_shape))
    with pytest.raises(ValueError):
        keras_rows(keras, (4, 5), [("Dense", 3, True), ("Reshape", (7, -1))])
    with pytest.raises(ValueError):
        assignment3.reference_layer_summary((4, 5), [("Dense", 3, True), ("Reshape", (7, -1))])


@pytest.mark.parity
def test_the_probabilities_reference_matches_keras():
    from tensorflow import keras

    rng = np.random.default_rng(2)
    images = rng.uniform(size=(5, 3, 4))
    params = {"W1": rng.normal(size=(12, 6)), "b1": rng.normal(size=6), "W2": rng.normal(size=(6, 4)),
              "b2": rng.normal(size=4)}
    model = keras.Sequential([keras.Input(shape=(3, 4)), keras.layers.Flatten(),
                              keras.layers.Dense(6, activation="relu"), keras.layers.Dense(4, activation="softmax")])
    model.set_weights([params["W1"], params["b1"], params["W2"], params["b2"]])
    expected = model.predict(images.astype("float32"), verbose=0)
    np.testing.assert_allclose(assignment3.reference_mlp_probabilities(images, params), expected, rtol=1e-4, atol=1e-6)


# --- the trusted grader and nbgrader: forged answers earn nothing ------------------------------


STUB = "".join(cell(NOTEBOOK.release, "layer_summary_answer")["source"])
FORGERIES = {
    "prints a number": "print(4.0)\n" + STUB,
    "patches the checker": ("from course_lib import grading\n"
                            "grading.check_layer_summary = lambda *args, **kwargs: 4.0\n" + STUB),
    "returns the reference from course_lib": (
        "from course_lib.grading import assignment3\n"
        "def layer_summary(input_shape, layers):\n    return assignment3.reference_layer_summary(input_shape, layers)\n"),
    "asks course_lib.layers": (
        "import course_lib.layers\n"
        "def layer_summary(input_shape, layers):\n    return course_lib.layers.Dense(1).compute_output_shape(input_shape)\n"),
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_forged_answer_earns_nothing_for_its_exercise(forgery):
    forged = submission(NOTEBOOK.solution, layer_summary_answer=FORGERIES[forgery])
    assert NOTEBOOK.trusted_scores(forged) == dict(FULL, layer_summary=0.0)


@pytest.fixture(scope="module")
def autograded(autograde):
    """The solution, the blank release and a forgery through one ``nbgrader autograde``."""
    forged = submission(NOTEBOOK.solution, layer_summary_answer=FORGERIES["returns the reference from course_lib"]
                        + "print(4.0)\n")
    return autograde(ASSIGNMENT, {"alice": NOTEBOOK.solution, "bob": lambda release: release, "mallory": forged})


@pytest.mark.slow
def test_nbgrader_autogrades_solution_release_and_forgery(autograded):
    assert autograded["alice"] == pytest.approx(FULL)
    assert sum(autograded["bob"].values()) == 0.0
    assert autograded["mallory"] == pytest.approx(dict(FULL, layer_summary=0.0))
