"""course_lib.GradientTape: what it records, what it refuses, and that its gradients are the engine's."""
import warnings

import numpy as np
import pytest

import course_lib as cl
from course_lib.backend import floatx_scope

layers = cl.layers


def _model(seed=0, regularizer=None):
    cl.backend.set_seed(seed)
    return cl.Sequential([cl.Input((4,)), layers.Dense(5, activation="tanh", kernel_regularizer=regularizer),
                          layers.Dense(2)])


def _data(seed=0, dtype="float64"):
    generator = np.random.default_rng(seed)
    return generator.standard_normal((6, 4)).astype(dtype), generator.standard_normal((6, 2)).astype(dtype)


def _engine_gradients(model, x, upstream):
    outputs, cache = model.forward(x, True)
    _, grads = model.backward(upstream, cache)
    return [grads[name] for name in model.trainable_weight_names]


def test_a_combination_of_losses_differentiates_like_the_model_backward():
    with floatx_scope("float64"):
        model, (x, y) = _model(), _data()
        mse, mae = cl.losses.MeanSquaredError(), cl.losses.MeanAbsoluteError()
        with cl.GradientTape() as tape:
            predictions = model(x, training=True)
            loss = 3.0 * mse(y, predictions) - mae(y, predictions) / 2 + 1.0
        assert isinstance(loss, cl.tape.TapeScalar)
        assert float(loss) == pytest.approx(3 * mse(y, predictions) - mae(y, predictions) / 2 + 1)
        grads = tape.gradient(loss, model.trainable_weights)
        upstream = 3.0 * mse.gradient(y, predictions) - 0.5 * mae.gradient(y, predictions)
        for received, expected in zip(grads, _engine_gradients(model, x, upstream)):
            np.testing.assert_allclose(received, expected, rtol=1e-12, atol=1e-14)


def test_gradients_agree_with_finite_differences_through_two_models():
    """A generator feeding a discriminator: the chain through both calls, checked numerically."""
    with floatx_scope("float64"):
        generator, discriminator = _model(1), cl.Sequential([cl.Input((2,)), layers.Dense(1, activation="sigmoid")])
        x, _ = _data(1)
        bce = cl.losses.BinaryCrossentropy()
        target = np.ones((6, 1))

        def loss_value():
            return float(bce(target, discriminator(generator(x))))

        with cl.GradientTape() as tape:
            loss = bce(target, discriminator(generator(x)))
        weights = generator.trainable_weights
        grads = tape.gradient(loss, weights)
        for weight, grad in zip(weights, grads):
            flat, index = weight.numpy().ravel(), 0
            values = weight.numpy()
            numeric = np.zeros_like(values)
            for index in range(values.size):
                original = flat[index]
                for sign in (1, -1):
                    flat[index] = original + sign * 1e-6
                    weight.assign(flat.reshape(values.shape))
                    numeric.flat[index] += sign * loss_value() / 2e-6
                flat[index] = original
                weight.assign(flat.reshape(values.shape))
            np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_a_product_and_a_quotient_of_losses_use_the_product_and_quotient_rules():
    with floatx_scope("float64"):
        model, (x, y) = _model(2), _data(2)
        mse, mae = cl.losses.MeanSquaredError(), cl.losses.MeanAbsoluteError()
        with cl.GradientTape(persistent=True) as tape:
            predictions = model(x)
            a, b = mse(y, predictions), mae(y, predictions)
            product, quotient = a * b, a / b
        upstream_product = float(b) * mse.gradient(y, predictions) + float(a) * mae.gradient(y, predictions)
        upstream_quotient = (mse.gradient(y, predictions) / float(b)
                             - float(a) / float(b) ** 2 * mae.gradient(y, predictions))
        for loss, upstream in ((product, upstream_product), (quotient, upstream_quotient)):
            for received, expected in zip(tape.gradient(loss, model.trainable_weights),
                                          _engine_gradients(model, x, upstream)):
                np.testing.assert_allclose(received, expected, rtol=1e-10, atol=1e-14)


def test_an_array_target_with_output_gradients_and_an_input_source():
    with floatx_scope("float64"):
        model, (x, _) = _model(3), _data(3)
        upstream = np.random.default_rng(3).standard_normal((6, 2))
        with cl.GradientTape() as tape:
            outputs = model(x)
        grad_x, *weight_grads = tape.gradient(outputs, [x] + model.trainable_weights, output_gradients=upstream)
        _, cache = model.forward(x, False)
        expected_x, _ = model.backward(upstream, cache)
        np.testing.assert_allclose(grad_x, expected_x, rtol=1e-12)
        for received, expected in zip(weight_grads, _engine_gradients(model, x, upstream)):
            np.testing.assert_allclose(received, expected, rtol=1e-12, atol=1e-14)


def test_an_array_fed_to_two_calls_sums_their_gradients():
    with floatx_scope("float64"):
        model, (x, y) = _model(4), _data(4)
        mse = cl.losses.MeanSquaredError()
        with cl.GradientTape() as tape:
            loss = mse(y, model(x)) + mse(2 * y, model(x))
        grads = tape.gradient(loss, model.trainable_weights)
        predictions = model(x)
        upstream = mse.gradient(y, predictions) + mse.gradient(2 * y, predictions)
        for received, expected in zip(grads, _engine_gradients(model, x, upstream)):
            np.testing.assert_allclose(received, expected, rtol=1e-12, atol=1e-14)


def test_a_model_call_records_once_not_once_per_inner_layer():
    with floatx_scope("float64"):
        model, (x, y) = _model(5), _data(5)
        with cl.GradientTape() as tape:
            cl.losses.MeanSquaredError()(y, model(x))
        assert [call.layer for call in tape._calls] == [model]


def test_compute_loss_includes_the_weight_penalties_and_their_gradients():
    with floatx_scope("float64"):
        model, (x, y) = _model(6, regularizer=cl.regularizers.L2(0.1)), _data(6)
        model.compile("sgd", "mse")
        with cl.GradientTape() as tape:
            predictions = model(x, training=True)
            loss = model.compute_loss(x=x, y=y, y_pred=predictions)
        kernel = model.layers[0].kernel.numpy()
        mse = cl.losses.MeanSquaredError()
        assert float(loss) == pytest.approx(float(mse(y, predictions)) + 0.1 * np.sum(kernel ** 2))
        grads = tape.gradient(loss, model.trainable_weights)
        expected = _engine_gradients(model, x, mse.gradient(y, predictions))
        expected[0] = expected[0] + 2 * float(np.float32(0.1)) * kernel  # Keras keeps the factor in float32
        for received, wanted in zip(grads, expected):
            np.testing.assert_allclose(received, wanted, rtol=1e-12, atol=1e-14)


def test_a_non_persistent_tape_gives_one_set_of_gradients():
    model, (x, y) = _model(7), _data(7, "float32")
    with cl.GradientTape() as tape:
        loss = cl.losses.MeanSquaredError()(y, model(x))
    tape.gradient(loss, model.trainable_weights)
    with pytest.raises(RuntimeError, match="non-persistent GradientTape can only be used to compute one set"):
        tape.gradient(loss, model.trainable_weights)


def test_a_value_the_tape_did_not_record_is_refused_with_the_reason():
    model, (x, y) = _model(8), _data(8, "float32")
    with cl.GradientTape() as tape:
        loss = cl.losses.MeanSquaredError()(y, model(x))
    with pytest.raises(ValueError, match="the target was not computed on this tape.*NumPy mean, math.log"):
        tape.gradient(np.log(float(loss)), model.trainable_weights)
    outside = cl.losses.MeanSquaredError()(y, model(x))
    assert type(outside) is float  # no tape open: a plain float, as before
    with pytest.raises(ValueError, match="not computed on this tape"):
        tape.gradient(outside, model.trainable_weights)


def test_numpy_arithmetic_between_two_calls_cuts_the_path_and_says_so():
    """No silent None: the weights upstream of an unrecorded operation get a warning naming their model."""
    generator, discriminator = _model(9), cl.Sequential([cl.Input((2,)), layers.Dense(1)], name="critic")
    x, _ = _data(9, "float32")
    with cl.GradientTape() as tape:
        images = generator(x) * 2.0  # NumPy arithmetic: not recorded
        loss = cl.losses.MeanSquaredError()(np.zeros((6, 1), "float32"), discriminator(images))
    with pytest.warns(RuntimeWarning, match=f"no gradient reached the weights of '{generator.name}'"):
        grads = tape.gradient(loss, generator.trainable_weights + discriminator.trainable_weights)
    assert all(g is None for g in grads[:4]) and all(g is not None for g in grads[4:])


def test_nothing_is_recorded_while_recording_is_stopped():
    model, (x, y) = _model(10), _data(10, "float32")
    with cl.GradientTape() as tape:
        with tape.stop_recording():
            model(x)
        assert tape._calls == []
        loss = cl.losses.MeanSquaredError()(y, model(x))
    assert len(tape._calls) == 1 and tape.gradient(loss, model.trainable_weights)[0] is not None


def test_gradient_inside_the_block_warns_that_later_calls_are_recorded_too():
    model, (x, y) = _model(11), _data(11, "float32")
    with cl.GradientTape() as tape:
        loss = cl.losses.MeanSquaredError()(y, model(x))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            tape.gradient(loss, model.trainable_weights)
    assert any("inside the tape's `with` block" in str(w.message) for w in caught)


def test_a_frozen_model_trains_nothing_and_says_so_once():
    model, (x, y) = _model(12), _data(12, "float32")
    model.compile("sgd", "mse")
    model.trainable = False
    before = model.get_weights()
    with pytest.warns(UserWarning, match="does not have any trainable weights"):
        model.train_on_batch(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.train_on_batch(x, y)  # once per compile, not every step
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    model.trainable = True  # read at every step: it trains again without recompiling
    model.train_on_batch(x, y)
    assert not all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_a_custom_train_step_gets_what_fit_and_train_on_batch_give_keras():
    seen = []

    class Recorder(cl.Model):
        def train_step(self, data):
            seen.append(tuple(type(item).__name__ for item in data) if isinstance(data, tuple)
                        else type(data).__name__)
            return {"calls": len(seen)}

    model = Recorder()
    model.compile()
    x, y = _data(13, "float32")
    history = model.fit(x, epochs=1, batch_size=4, verbose=0)
    model.fit(x, y, batch_size=6, verbose=0)
    model.fit(x, y, sample_weight=np.ones(6), batch_size=6, verbose=0)
    result = model.train_on_batch(x, y)
    assert seen == ["ndarray", "ndarray", ("ndarray", "ndarray"), ("ndarray", "ndarray", "ndarray"),
                    ("ndarray", "ndarray", "NoneType")]
    assert history.history == {"calls": [2.0]} and result == 5.0
    with pytest.raises(ValueError, match="class_weight is not supported with a custom train_step"):
        model.fit(x, y, class_weight={0: 1.0}, verbose=0)


def test_a_train_step_must_return_a_dict():
    class Broken(cl.Model):
        def train_step(self, data):
            return 1.0

    model = Broken()
    model.compile()
    with pytest.raises(TypeError, match="train_step must return a dict of logs"):
        model.fit(_data(14, "float32")[0], verbose=0)


def test_a_custom_step_model_splits_off_validation_data_as_keras():
    """validation_split holds out the last samples; a custom test_step sees them, logs are prefixed val_."""
    seen = {"train": 0, "test": 0}

    class Counter(cl.Model):
        def train_step(self, data):
            seen["train"] += len(data[0])
            return {"size": float(len(data[0]))}

        def test_step(self, data):
            seen["test"] += len(data[0])
            return {"size": float(data[1][-1, 0])}

    model = Counter()
    model.compile()
    x = np.arange(10, dtype="float32")[:, None]
    history = model.fit(x, x, validation_split=0.3, batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert seen == {"train": 7, "test": 3}
    assert history.history == {"size": [3.0], "val_size": [9.0]}  # the last sample is the held-out 9
    with pytest.raises(ValueError, match=r"validation_split=0.5 leaves no samples in one part \(1 samples"):
        model.fit(x[:1], x[:1], validation_split=0.5, verbose=0)
