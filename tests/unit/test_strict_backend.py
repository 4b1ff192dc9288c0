"""A representative part of the library under the strict stand-in for CuPy.

Each workflow runs twice, on NumPy and under ``set_backend("strict")``, from the
same seed: the strict run must not trip over a NumPy-only call, a host array
mixed into device work or a silent host conversion, and must give the same
numbers. The stand-in itself is shown the mistakes it exists to catch.
"""
import numpy as np
import pytest

import course_lib as cl
from course_lib import backend, layers, strict_backend


@pytest.fixture
def strict():
    with backend.backend_scope("strict"):
        yield backend.xp


def _both(workflow):
    """Run ``workflow()`` on NumPy, then strictly, from the same seed; return both results as NumPy."""
    results = []
    for name in ("numpy", "strict"):
        backend.clear_session()
        backend.set_seed(7)
        with backend.backend_scope(name):
            results.append(_host(workflow()))
    return results


def _host(value):
    if isinstance(value, dict):
        return {key: _host(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_host(item) for item in value]
    if isinstance(value, float):
        return value
    return backend.to_numpy(value)


def _assert_same(first, second, rtol=1e-6):
    if isinstance(first, dict):
        assert first.keys() == second.keys()
        for key in first:
            _assert_same(first[key], second[key], rtol)
    elif isinstance(first, list):
        assert len(first) == len(second)
        for a, b in zip(first, second):
            _assert_same(a, b, rtol)
    else:
        np.testing.assert_allclose(first, second, rtol=rtol, atol=1e-7)


def _data(seed=0, samples=48):
    generator = np.random.default_rng(seed)
    x = generator.standard_normal((samples, 6)).astype("float32")
    return x, generator.integers(0, 3, samples), generator.random((samples, 1)).astype("float32")


# ------------------------------------------------------------ the stand-in
def test_strict_arrays_refuse_what_cupy_refuses(strict):
    device = strict.ones((2, 3))
    assert isinstance(device, strict_backend.StrictArray)
    with pytest.raises(TypeError, match=r"a NumPy array of shape \(2, 3\) was mixed into numpy ufunc 'add'"):
        device + np.ones((2, 3))
    with pytest.raises(TypeError, match="was mixed into xp.concatenate"):
        strict.concatenate([device, np.ones((2, 3))])
    with pytest.raises(strict_backend.StrictHostConversion, match=r"float\(\).*backend.to_float"):
        float(device.sum())
    with pytest.raises(strict_backend.StrictHostConversion):
        device.sum().item()
    with pytest.raises(AttributeError, match="NumPy-only"):
        strict.errstate(over="ignore")
    with pytest.raises(AttributeError, match="backend.rng"):
        strict.random.default_rng(0)
    with pytest.raises(AttributeError, match="flags"):
        device.flags.writeable
    # What is allowed: explicit transfers, NumPy scalars, dtypes, 0-d reductions like CuPy's.
    assert isinstance(strict.asarray(np.ones(3)), strict_backend.StrictArray)
    total = (device * np.float32(2)).sum()
    assert isinstance(total, strict_backend.StrictArray) and total.ndim == 0
    assert backend.to_float(total) == 12.0
    assert strict.float32 is np.float32


def test_set_backend_rejects_an_unknown_name_and_the_environment_variable_is_read():
    with pytest.raises(ValueError, match=r"set_backend: expected one of \('numpy', 'cupy', 'strict'\). Received: 'jax'"):
        backend.set_backend("jax")
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "from course_lib import backend; print(backend.backend_name())"],
        env={"COURSE_LIB_BACKEND": "strict", "PATH": ""}, capture_output=True, text=True, check=True,
    )
    assert result.stdout.strip() == "strict"


def test_a_planted_numpy_call_in_a_layer_is_caught(strict):
    class HostBias(layers.Layer):
        def forward(self, inputs, training=False):
            return inputs + np.ones(inputs.shape[-1], dtype=inputs.dtype), None  # the planted bug

    with pytest.raises(TypeError, match="was mixed into"):
        HostBias()(np.ones((2, 3)))


# ------------------------------------------------------------ workflows
def test_a_sequential_classifier_fits_evaluates_and_predicts_the_same_strictly():
    x, labels, _ = _data()

    def workflow():
        model = cl.Sequential([
            cl.Input((6,)), layers.Dense(8, activation="relu"), layers.Dropout(0.3),
            layers.Dense(3, activation="softmax"),
        ])
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x, labels, epochs=3, batch_size=16, validation_split=0.25, verbose=0,
                            callbacks=[cl.callbacks.EarlyStopping(patience=5, restore_best_weights=True)])
        return {
            "history": history.history,
            "evaluate": model.evaluate(x, labels, verbose=0),
            "predict": model.predict(x, batch_size=20, verbose=0),
            "weights": model.get_weights(),
        }

    numpy_run, strict_run = _both(workflow)
    assert isinstance(numpy_run["predict"], np.ndarray)
    _assert_same(numpy_run, strict_run)


def test_a_two_output_functional_model_with_shared_layers_strictly():
    x, labels, target = _data(1)

    def workflow():
        inputs = cl.Input((6,))
        shared = layers.Dense(5, activation="tanh")
        left, right = shared(inputs), shared(layers.LeakyReLU()(inputs))
        merged = layers.Concatenate()([layers.Multiply()([left, right]), layers.Subtract()([left, right])])
        probability = layers.Dense(1, activation="sigmoid", name="probability")(merged)
        value = layers.Dense(1, name="value")(layers.Average()([left, right]))
        model = cl.Model(inputs, [probability, value])
        model.compile(cl.optimizers.RMSprop(learning_rate=0.01), ["binary_crossentropy", "mse"],
                      metrics=[["accuracy"], ["mae"]], loss_weights=[1.0, 0.5])
        history = model.fit(x, [(labels > 0).astype("float32"), target], epochs=2, batch_size=12, verbose=0,
                            class_weight=None, shuffle=True)
        return {"history": history.history, "evaluate": model.evaluate(x, [(labels > 0), target], verbose=0),
                "weights": model.get_weights()}

    _assert_same(*_both(workflow))


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop", "adagrad", "adamax", "nadam", "adadelta"])
def test_every_optimizer_steps_strictly(optimizer):
    x, _, target = _data(2)

    def workflow():
        model = cl.Sequential([cl.Input((6,)), layers.Dense(4, activation="elu"), layers.Dense(1)])
        model.compile(cl.optimizers.get({"class_name": optimizer, "config": {"clipnorm": 1.0}}), "huber")
        for _ in range(3):
            model.train_on_batch(x, target)
        return model.get_weights()

    _assert_same(*_both(workflow))


LOSSES = ["mse", "mae", "mape", "msle", "huber", "hinge", "kld", "binary_crossentropy",
          "categorical_crossentropy", "sparse_categorical_crossentropy"]


@pytest.mark.parametrize("name", LOSSES)
def test_every_loss_and_its_gradient_strictly(name):
    generator = np.random.default_rng(3)
    probabilities = generator.dirichlet(np.ones(4), 5).astype("float32")
    labels = generator.integers(0, 4, 5)
    y_true = labels if name.startswith("sparse") else np.eye(4, dtype="float32")[labels]

    def workflow():
        loss = cl.losses.get(name)
        return [loss(y_true, probabilities), loss.gradient(y_true, probabilities)]

    _assert_same(*_both(workflow))


@pytest.mark.parametrize("name", ["accuracy", "binary_accuracy", "mae", "mse", "mape", "binary_crossentropy"])
def test_every_metric_strictly(name):
    generator = np.random.default_rng(4)
    predictions = generator.random((20, 1)).astype("float32")
    truth = (generator.random((20, 1)) > 0.5).astype("float32")

    def workflow():
        metric = cl.metrics.get(name, loss=cl.losses.get("binary_crossentropy"), y_true=truth, y_pred=predictions)
        metric.update_state(truth, predictions)
        metric.update_state(truth[:5], predictions[:5])
        return metric.result()

    _assert_same(*_both(workflow))


def test_no_module_calls_numpy_behind_the_backends_back():
    """NumPy functions run on host arrays only: the array work must go through backend.xp.

    (The strict arrays catch host arrays mixed into device work at run time;
    this catches calls such as ``numpy.asarray(device_array)``, which a NumPy
    subclass cannot intercept but CuPy refuses.) Host by design: the backend
    itself, initializers (once per weight, from the seeded host generator), saving (files),
    the testing and grading tools, the dataset loaders, the preprocessing utilities
    (they prepare host data before it reaches a model, and return NumPy arrays as
    Keras's do), the classical estimators of ``ml`` (scikit-learn's API: NumPy in,
    NumPy out), plot_model (it lays out boxes for matplotlib, which draws on the host) and the image
    files of ``utils`` (``image_utils``, ``image_dataset``: Pillow decodes on the host, and Keras's
    readers return NumPy arrays), and likewise the text-folder, audio-folder and time-series readers of ``utils`` and
    the TensorBoard event files (``event_files``: bytes for a file, from weights copied to the host).
    """
    import io
    import pathlib
    import tokenize

    root = pathlib.Path(cl.__file__).parent
    host_by_design = {"backend.py", "strict_backend.py", "initializers.py", "saving.py", "plot_model.py",
                      "image_utils.py", "image_dataset.py", "text_dataset.py", "audio_dataset.py", "timeseries.py",
                      "event_files.py"}
    host_folders = {"testing", "grading", "datasets", "preprocessing", "ml"}
    allowed = {"dtype", "integer", "floating", "generic", "broadcast_shapes", "ndarray"}
    offenders = []
    for path in root.rglob("*.py"):
        relative = path.relative_to(root)
        if relative.name in host_by_design or relative.parts[0] in host_folders:
            continue
        text = path.read_text()
        lines = text.splitlines()
        # Code only: the tokenizer leaves out comments and strings (docstrings, and the operation names
        # autodiff's errors give, such as "numpy.sum").
        names = [token for token in tokenize.generate_tokens(io.StringIO(text).readline)
                 if token.type in (tokenize.NAME, tokenize.OP)]
        for module, dot, name in zip(names, names[1:], names[2:]):
            if module.string not in ("numpy", "np") or dot.string != "." or name.type != tokenize.NAME:
                continue
            if lines[module.start[0] - 1].lstrip().startswith(("import numpy", "from numpy")):
                continue  # importing a helper (a mixin, a type) is no array work
            if name.string not in allowed:
                offenders.append(f"{relative}:{module.start[0]}: numpy.{name.string}")
    assert not offenders, "NumPy calls outside course_lib.backend:\n" + "\n".join(offenders)
