"""Assignment 6 (VGG-16): its checkers, the references against course_lib's and Keras's VGG16, the models the
grader rebuilds, and nbgrader on the notebooks.

The checkers must give full points to the references and to the solution
notebook, fewer to each planted bug (a count that forgets the biases, a
convolution without its ReLU, ...), nothing to the release; the references
must be the VGG-16 of course_lib.applications and of Keras (138,357,544
parameters); a model description a student forged must cost points, never
crash the grader or make it allocate a big model; and one ``nbgrader
autograde`` of a scratch course must grade raising, looping and test-deleting
submissions without a crash, then export every student.
"""
import json
import textwrap

import numpy as np
import pytest
from graded_notebooks import (
    Assignment, answer_functions, autograded_output, cell, class_grading_tests, full_points_tests, planted,
    planted_bug_tests, submission, without,
)

import course_lib as cl
from course_lib.grading import assignment6, harness, trusted

ASSIGNMENT = "assignment6"
NOTEBOOK = Assignment(ASSIGNMENT)
FULL = NOTEBOOK.full
SOLUTION = answer_functions(NOTEBOOK.solution)
SMALL = assignment6._NETWORK_CASES[0]


# --- the references and the solution notebook earn everything -----------------------


test_the_reference_earns_full_points, test_the_solution_notebook_earns_full_points_and_the_release_nothing = (
    full_points_tests(NOTEBOOK))


# --- the references against course_lib's layers and its VGG16 ------------------------------------


def test_the_one_layer_counts_are_course_lib_s():
    for kernel_size, in_channels, filters, use_bias in assignment6._CONV_PARAM_CASES:
        layer = cl.layers.Conv2D(filters, kernel_size, use_bias=use_bias is not False)
        layer.build((None, None, None, in_channels))
        assert assignment6.reference_conv_params(kernel_size, in_channels, filters, use_bias is not False) \
            == layer.count_params()
    for in_features, units in [(1, 1), (512, 10), (37, 5)]:
        layer = cl.layers.Dense(units)
        layer.build((None, in_features))
        assert assignment6.reference_dense_params(in_features, units) == layer.count_params()


@pytest.mark.parametrize("blocks, input_shape, dense_units, classes", assignment6._NETWORK_CASES
                         + [(blocks, shape, units, classes) for _, blocks, shape, units, classes
                            in assignment6._COUNT_CASES if shape[0] < 100 and blocks != assignment6.VGG16_BLOCKS])
def test_the_reference_network_has_the_reference_counts_and_shapes(blocks, input_shape, dense_units, classes):
    model = assignment6.reference_build_vgg(blocks, input_shape, dense_units, classes)
    assert model.count_params() == assignment6.reference_vgg_param_count(blocks, input_shape, dense_units, classes)
    pools = [tuple(model.get_layer(f"block{b}_pool").output.shape) for b in range(1, len(blocks) + 1)]
    assert pools == assignment6.reference_block_output_shapes(blocks, input_shape)
    assert [layer.name for layer in model.layers[1:]] == assignment6.layer_names(blocks, dense_units)
    assert assignment6.model_weights("build_vgg", {"model_json": model.to_json()}) == model.count_params()


def test_the_reference_builds_course_lib_s_vgg16(monkeypatch):
    """Layer for layer: names, classes, settings, output shapes and counts (on 32x32 images, 33.6 M weights)."""
    theirs = cl.applications.VGG16(weights=None, input_shape=(32, 32, 3), classes=10)
    ours = assignment6.reference_build_vgg(assignment6.VGG16_BLOCKS, (32, 32, 3), (4096, 4096), 10)
    assert len(ours.layers) == len(theirs.layers) == 23
    for mine, layer in zip(ours.layers[1:], theirs.layers[1:]):
        assert (type(mine), mine.name, tuple(mine.output.shape), mine.count_params()) == \
            (type(layer), layer.name, tuple(layer.output.shape), layer.count_params())
        assert mine.get_config() == layer.get_config()
    assert ours.count_params() == theirs.count_params() == assignment6.reference_vgg_param_count(
        assignment6.VGG16_BLOCKS, (32, 32, 3), (4096, 4096), 10)
    # Its 23 layers are more than a returned model may have; with the limit lifted, its weights are counted unbuilt.
    assert assignment6.model_weights("build_vgg", {"model_json": theirs.to_json()}) is None
    monkeypatch.setitem(harness.MODEL_LIMITS, "layers", 23)
    assert assignment6.model_weights("build_vgg", {"model_json": theirs.to_json()}) == theirs.count_params()
    assert assignment6.VGG16_BLOCKS == [tuple(block) for block in cl.applications.vgg16.BLOCKS]
    assert assignment6.reference_vgg_param_count(assignment6.VGG16_BLOCKS, (224, 224, 3), (4096, 4096), 1000) \
        == assignment6.VGG16_PARAMETERS == 138_357_544


@pytest.mark.parity
def test_the_references_are_keras_s_vgg16():
    from tensorflow import keras

    keras_model = keras.applications.VGG16(weights=None, input_shape=(32, 32, 3), classes=10)
    ours = assignment6.reference_build_vgg(assignment6.VGG16_BLOCKS, (32, 32, 3), (4096, 4096), 10)
    assert [layer.name for layer in keras_model.layers[1:]] == [layer.name for layer in ours.layers[1:]]
    assert [tuple(layer.output.shape) for layer in keras_model.layers] == [tuple(layer.output.shape)
                                                                          for layer in ours.layers]
    assert [layer.count_params() for layer in keras_model.layers] == [layer.count_params() for layer in ours.layers]
    pools = [tuple(keras_model.get_layer(f"block{b}_pool").output.shape) for b in range(1, 6)]
    assert pools == assignment6.reference_block_output_shapes(assignment6.VGG16_BLOCKS, (32, 32, 3))
    # The full VGG16 at 224x224 (138 M weights) is counted, not built, for each VGG of the checker.
    for label, blocks, shape, units, classes in assignment6._COUNT_CASES:
        if shape[0] < 100:
            small = keras.Sequential([keras.Input(shape)] + [layer for filters, count in blocks for layer in
                                      [keras.layers.Conv2D(filters, 3, padding="same") for _ in range(count)]
                                      + [keras.layers.MaxPooling2D(2)]]
                                     + [keras.layers.Flatten()] + [keras.layers.Dense(u) for u in units]
                                     + [keras.layers.Dense(classes)])
            assert small.count_params() == assignment6.reference_vgg_param_count(blocks, shape, units, classes), label


@pytest.mark.parity
def test_the_weights_copied_into_the_reference_predict_what_keras_predicts():
    from tensorflow import keras

    blocks, input_shape, dense_units, classes = SMALL
    ours = assignment6.reference_build_vgg(blocks, input_shape, dense_units, classes)
    ours.set_weights(assignment6._random_weights(ours, np.random.default_rng(0)))
    inputs = keras.Input(input_shape)
    x = inputs
    for b, (filters, count) in enumerate(blocks, start=1):
        for i in range(1, count + 1):
            x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"block{b}_conv{i}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for number, units in enumerate(dense_units, start=1):
        x = keras.layers.Dense(units, activation="relu", name=f"fc{number}")(x)
    theirs = keras.Model(inputs, keras.layers.Dense(classes, activation="softmax", name="predictions")(x))
    cl.testing.copy_weights(ours, theirs)
    images = np.random.default_rng(1).uniform(size=(3,) + input_shape).astype("float32")
    np.testing.assert_allclose(ours.predict(images, verbose=0), theirs.predict(images, verbose=0), rtol=1e-4,
                               atol=1e-6)


# --- planted bugs earn less, with a reason ------------------------------------------------

CONV_SOURCE = """
    def conv_params(kernel_size, in_channels, filters, use_bias=True):
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        return kh * kw * in_channels * filters + (filters if use_bias else 0)
    """
DENSE_SOURCE = """
    def dense_params(in_features, units):
        return in_features * units + units
    """
SHAPES_SOURCE = """
    def block_output_shapes(blocks, input_shape):
        height, width = input_shape[0], input_shape[1]
        shapes = []
        for filters, _ in blocks:
            height, width = height // 2, width // 2
            shapes.append((None, height, width, filters))
        return shapes
    """
COUNT_SOURCE = """
    def vgg_param_count(blocks, input_shape, dense_units, classes):
        total, channels = 0, input_shape[-1]
        for filters, convolutions in blocks:
            for _ in range(convolutions):
                total += 3 * 3 * channels * filters + filters
                channels = filters
        height, width = input_shape[0], input_shape[1]
        for _ in blocks:
            height, width = height // 2, width // 2
        features = height * width * channels
        for units in list(dense_units) + [classes]:
            total += features * units + units
            features = units
        return total
    """
BUILD_SOURCE = """
    def build_vgg(blocks, input_shape, dense_units, classes):
        inputs = keras.Input(shape=tuple(input_shape))
        x = inputs
        for block, (filters, convolutions) in enumerate(blocks, start=1):
            for index in range(1, convolutions + 1):
                x = keras.layers.Conv2D(filters, (3, 3), padding="same", activation="relu",
                                        name=f"block{block}_conv{index}")(x)
            x = keras.layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        for number, units in enumerate(dense_units, start=1):
            x = keras.layers.Dense(units, activation="relu", name=f"fc{number}")(x)
        outputs = keras.layers.Dense(classes, activation="softmax", name="predictions")(x)
        return keras.Model(inputs, outputs, name="vgg")
    """
SOURCES = {"conv_params": CONV_SOURCE, "dense_params": DENSE_SOURCE, "block_output_shapes": SHAPES_SOURCE,
           "vgg_param_count": COUNT_SOURCE, "build_vgg": BUILD_SOURCE}
NO_RELU = ('padding="same", activation="relu",', 'padding="same",')
BUGS = {
    "conv_params": {
        "forgets the bias": (" + (filters if use_bias else 0)", ""),
        "ignores use_bias": ("(filters if use_bias else 0)", "filters"),
        "forgets the input channels": ("kh * kw * in_channels * filters", "kh * kw * filters"),
        "one bias per weight of a window": ("(filters if use_bias else 0)", "(kh * kw * filters if use_bias else 0)"),
    },
    "dense_params": {
        "forgets the bias": (" + units", ""),
        "one bias per input": (" + units", " + in_features"),
    },
    "block_output_shapes": {
        "rounds up": ("height // 2, width // 2", "-(-height // 2), -(-width // 2)"),
        "no batch axis": ("(None, height, width, filters)", "(height, width, filters)"),
        "height and width swapped": ("input_shape[0], input_shape[1]", "input_shape[1], input_shape[0]"),
        "lists, not tuples": ("(None, height, width, filters)", "[None, height, width, filters]"),
    },
    "vgg_param_count": {
        "the convolutions' biases forgotten": (" + filters\n", "\n"),
        "the dense layers' biases forgotten": (" + units\n", "\n"),
        "every convolution reads the image's channels": ("channels = filters", "pass"),
        "one convolution per block": ("range(convolutions)", "range(1)"),
        "no classifier": ("list(dense_units) + [classes]", "list(dense_units)"),
        "the pools round up": ("height // 2, width // 2", "-(-height // 2), -(-width // 2)"),
    },
    "build_vgg": {
        "no ReLU in the convolutions": NO_RELU,
        "valid convolutions": ('padding="same"', 'padding="valid"'),
        "blocks numbered from 0": ("enumerate(blocks, start=1)", "enumerate(blocks)"),
        "hidden layers named as Keras names them by default": ('name=f"fc{number}"', 'name=f"dense_{number}"'),
        "3x3 pools": ("MaxPooling2D((2, 2)", "MaxPooling2D((3, 3)"),
        "a softmax on the hidden layers": ('Dense(units, activation="relu"', 'Dense(units, activation="softmax"'),
        "no Flatten": ('x = keras.layers.Flatten(name="flatten")(x)', 'x = x'),
    },
}


def plant(name, old="", new=""):
    return planted(SOURCES[name], name, old, new, extra="import course_lib as keras\n")


test_the_sources_the_bugs_are_planted_into_earn_full_points, test_each_planted_bug_earns_less_and_says_why = \
    planted_bug_tests(NOTEBOOK, SOURCES, BUGS, plant)


def test_a_count_without_biases_names_both_numbers(capsys):
    NOTEBOOK.checker("vgg_param_count")(plant("vgg_param_count", *BUGS["vgg_param_count"][
        "the dense layers' biases forgotten"]))
    assert "[VGG-16: blocks=[(64, 2), (128, 2)" in capsys.readouterr().out
    NOTEBOOK.checker("dense_params")(plant("dense_params", *BUGS["dense_params"]["forgets the bias"]))
    assert "parameters: 102,764,544 expected, received 102,760,448" in capsys.readouterr().out


def test_the_network_reasons_name_the_layer(capsys):
    NOTEBOOK.checker("build_vgg")(plant("build_vgg", *NO_RELU))
    printed = capsys.readouterr().out
    assert "Conv2D 'block1_conv1': activation='relu' expected, it has activation='linear'" in printed
    assert "predictions on a fixed input, with the reference's weights relative error" in printed
    NOTEBOOK.checker("build_vgg")(plant("build_vgg", *BUGS["build_vgg"]["blocks numbered from 0"]))
    assert "layer 1 after the input: Conv2D 'block1_conv1' expected, found Conv2D 'block0_conv1'" in \
        capsys.readouterr().out
    NOTEBOOK.checker("build_vgg")(plant("build_vgg", *BUGS["build_vgg"]["valid convolutions"]))
    assert "'block1_conv1' output shape (None, 32, 32, 8) expected, received (None, 30, 30, 8)" in \
        capsys.readouterr().out


# --- what the grader rebuilds: only the allowed layers, within the weight budget ---------------------


def described(model):
    return {"model_json": model.to_json(), "weights": model.get_weights()}


def with_config(edit, spec=SMALL):
    description = described(assignment6.reference_build_vgg(*spec))
    config = json.loads(description["model_json"])
    edit(config)
    return dict(description, model_json=json.dumps(config))


def _layers(config):
    return config["config"]["layers"]


def _big_image(config):
    _layers(config)[0]["config"]["batch_shape"] = [None, 512, 512, 3]
    _layers(config)[-2]["config"]["units"] = 512  # fc1 reads 128 * 128 * 16 numbers: 134 M weights


def _registered_as_a_model(config):
    _layers(config)[1]["registered_name"] = "Functional"  # built as a nested model: the allow-list bypassed


def _lambda(config):
    _layers(config)[2]["class_name"] = "Lambda"


def _wide_kernel(config):
    _layers(config)[1]["config"]["kernel_size"] = [1000, 1000]


def _two_inputs(config):
    call = _layers(config)[2]["inbound_nodes"][0]
    call["args"] = [[call["args"][0], call["args"][0]]]


FORGED_MODELS = {
    "a number": (3, "must return a course_lib Model"),
    "a Sequential": (described(cl.Sequential([cl.Input((4,)), cl.layers.Dense(2)])), "must return a functional model"),
    "a big image flattened into a wide layer": (with_config(_big_image), "would have 134,"),
    "a layer registered as a model": (with_config(_registered_as_a_model), "registered as 'Functional'"),
    "a class course_lib would not build here": (with_config(_lambda), "'Lambda' layer"),
    "a kernel a thousand wide": (with_config(_wide_kernel), "would have"),
    "a layer called on two tensors": (with_config(_two_inputs), "is called on 2 tensors"),
    "a description nested too deep for json": ({"model_json": "[" * 200_000 + "]" * 200_000, "weights": []},
                                               "is not JSON"),
    "weights that do not fit": (dict(described(assignment6.reference_build_vgg(*SMALL)), weights=[np.ones(3)]),
                                "could not be rebuilt"),
}


@pytest.mark.parametrize("forgery", sorted(FORGED_MODELS))
def test_a_forged_model_description_costs_points_and_says_why(forgery, capsys, monkeypatch):
    result, reason = FORGED_MODELS[forgery]
    if "would have" in reason or "registered" in reason:
        # Refused before anything is built.
        monkeypatch.setattr(cl.models, "model_from_json", lambda *args: pytest.fail("the model was built"))
    with pytest.raises(harness.StudentCodeError, match=reason):
        assignment6.rebuilt_vgg("build_vgg", result)
    assert NOTEBOOK.checker("build_vgg")(lambda *args: result) == 0.0
    assert reason in capsys.readouterr().out


def test_a_layer_registered_as_a_model_is_refused_by_the_harness_itself():
    """The harness's own allow-list (assignment 4's too): a registered_name other than the class is refused."""
    description = with_config(_registered_as_a_model)
    with pytest.raises(harness.StudentCodeError, match="registered as 'Functional'"):
        harness.rebuilt_model("build_vgg", description, layers=assignment6.MODEL_LAYERS)
    top = with_config(lambda config: config.update(registered_name="Sequential"))
    with pytest.raises(harness.StudentCodeError, match="registered as 'Sequential'"):
        harness.rebuilt_model("build_vgg", top, layers=assignment6.MODEL_LAYERS)


def test_the_rebuilt_model_is_the_returned_one():
    cl.utils.set_random_seed(3)
    original = assignment6.reference_build_vgg(*SMALL)
    rebuilt = assignment6.rebuilt_vgg("build_vgg", described(original))
    images = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    np.testing.assert_array_equal(original.predict(images, verbose=0), rebuilt.predict(images, verbose=0))
    assert assignment6.rebuilt_vgg("build_vgg", original).count_params() == original.count_params()


# --- the trusted grader: course_lib allowed, Keras and the references not ------------------------

FORGERIES = {
    "Keras itself": "from tensorflow import keras as tf_keras\n" + textwrap.dedent(BUILD_SOURCE).replace(
        "keras.", "tf_keras."),
    "the checker's reference": ("from course_lib.grading.assignment6 import reference_build_vgg\n"
                                "def build_vgg(blocks, input_shape, dense_units, classes):\n"
                                "    return reference_build_vgg(blocks, input_shape, dense_units, classes)\n"),
    "prints a number": "print(3.0)\n" + "".join(cell(NOTEBOOK.release, "build_vgg_answer")["source"]),
}


def test_the_solution_is_graded_in_a_sandbox_with_course_lib():
    assert "course_lib.layers" not in trusted.forbidden_modules(ASSIGNMENT)
    assert "course_lib.grading.assignment6" in trusted.forbidden_modules(ASSIGNMENT)
    assert "course_lib.grading.assignment6" in trusted.forbidden_modules("assignment5")
    assert NOTEBOOK.trusted_scores(NOTEBOOK.solution) == FULL


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_forged_answer_earns_nothing_for_its_exercise(forgery):
    forged = submission(NOTEBOOK.solution, build_vgg_answer=FORGERIES[forgery])
    assert NOTEBOOK.trusted_scores(forged) == dict(FULL, build_vgg=0.0)


# --- nbgrader on a class: raising, looping, deleted tests, partial credit, the export ----------------

SOLVED = {grade_id: "".join(cell(NOTEBOOK.solution, grade_id)["source"]) for grade_id in (
    "dense_params_answer", "vgg_param_count_answer", "build_vgg_answer")}


def _class():
    release = NOTEBOOK.release
    erin = submission(NOTEBOOK.solution, build_vgg_answer="".join(cell(release, "build_vgg_answer")["source"]))
    return {
        "alice": NOTEBOOK.solution,
        "bob": lambda regenerated: regenerated,
        # build_vgg raises inside; the vgg_param_count cell raises before its def.
        "carol": submission(NOTEBOOK.solution, build_vgg_answer=SOLVED["build_vgg_answer"].replace(
            "    x = inputs\n", "    raise ValueError('no layers yet')\n", 1),
            vgg_param_count_answer="raise RuntimeError('not finished')\n" + SOLVED["vgg_param_count_answer"]),
        # an endless loop before build_vgg's def: that cell is left out, the rest graded.
        "dave": submission(NOTEBOOK.solution, build_vgg_answer="while True:\n    pass\n" + SOLVED["build_vgg_answer"]),
        # deleted two test cells, left build_vgg as the release's stub.
        "erin": without(erin, "conv_params_tests", "build_vgg_tests"),
        # a Dense count without its bias (dense_params and the whole count), convolutions without ReLU.
        "frank": submission(NOTEBOOK.solution,
                            dense_params_answer=SOLVED["dense_params_answer"].replace(" + units\n", "\n"),
                            build_vgg_answer=SOLVED["build_vgg_answer"].replace(*NO_RELU)),
        "mallory": submission(NOTEBOOK.solution, build_vgg_answer=FORGERIES["the checker's reference"]),
    }


CLASS = _class()
EXPECTED = {
    "alice": FULL,
    "bob": {name: 0.0 for name in FULL},
    "carol": dict(FULL, build_vgg=0.0, vgg_param_count=0.0),
    "dave": dict(FULL, build_vgg=0.0),
    "erin": dict(FULL, build_vgg=0.0),
    "frank": None,  # what the checkers give frank's functions in this process
    "mallory": dict(FULL, build_vgg=0.0),
}


graded_class, scores_of, test_nbgrader_autogrades_every_kind_of_submission, test_the_export_lists_every_student = \
    class_grading_tests(NOTEBOOK, CLASS, EXPECTED)


def graded_cell(graded_class, student, exercise):
    """What the autograded notebook shows in the exercise's graded cell (the checker's reasons)."""
    return autograded_output(graded_class, ASSIGNMENT, student, exercise)


def test_the_planted_student_loses_points_in_the_right_exercises():
    frank = scores_of("frank")
    for name in ("conv_params", "block_output_shapes"):
        assert frank[name] == FULL[name], frank
    assert frank["dense_params"] == 0.0 and frank["vgg_param_count"] == 0.0
    assert 0 < frank["build_vgg"] < FULL["build_vgg"], frank


@pytest.mark.slow
def test_errors_loops_and_deleted_tests_are_reported_not_crashed_on(graded_class):
    assert "build_vgg raised ValueError: no layers yet" in graded_cell(graded_class, "carol", "build_vgg")
    assert "vgg_param_count is not defined" in graded_cell(graded_class, "carol", "vgg_param_count")
    dave = graded_cell(graded_class, "dave", "build_vgg")
    assert "cell build_vgg_answer was left out" in dave and "did not finish" in dave
    assert "Missing grade cell build_vgg_tests encountered, adding to notebook" in graded_class["log"]
    assert "build_vgg raised NotImplementedError" in graded_cell(graded_class, "erin", "build_vgg")
    assert "activation='relu' expected" in graded_cell(graded_class, "frank", "build_vgg")
    assert "does not allow" in graded_cell(graded_class, "mallory", "build_vgg")
