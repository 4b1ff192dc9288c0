"""Files move both ways: `.keras` and `.weights.h5` written by one library, opened by the other.

Every test writes with one library and reads with the other in the same test,
then compares predictions (bit-identical: the same float32 weights go through
the same arithmetic up to summation order, so the tolerance is 1e-6).
"""
import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402  (Keras 3, the library tf.keras is)

pytestmark = pytest.mark.parity


def _sequential(library):
    return library.Sequential([
        library.Input((6,)),
        library.layers.Dense(8, activation="relu"),
        library.layers.Dropout(0.0),  # in the file, but no random masks when training resumes
        library.layers.Dense(8, activation="tanh"),
        library.layers.Dense(8, activation="elu"),
        library.layers.Dense(8),
        library.layers.LeakyReLU(0.1),
        library.layers.Dense(3, activation="softmax"),
    ], name="classifier")


def _functional(library):
    """Two inputs, a shared layer, a nested model, a merge that broadcasts and two outputs."""
    encoder = library.Sequential([library.Input((6,)), library.layers.Dense(5, activation="tanh")], name="encoder")
    left, right = library.Input((6,), name="left"), library.Input((6,), name="right")
    shared = library.layers.Dense(4, name="shared")
    a, b = shared(encoder(left)), shared(encoder(right))
    merged = library.layers.Concatenate()([library.layers.Subtract()([a, b]), library.layers.Multiply()([a, b])])
    gate = library.layers.Dense(1, activation="sigmoid", name="gate")(merged)
    scaled = library.layers.Multiply()([merged, gate])
    return library.Model(
        [left, right],
        [library.layers.Dense(1, name="score")(scaled), library.layers.Dense(2, activation="softmax", name="label")(merged)],
        name="siamese",
    )


def _data(seed=0):
    generator = np.random.default_rng(seed)
    return [generator.standard_normal((16, 6)).astype("float32") for _ in range(2)]


def _predictions(model, inputs):
    outputs = model.predict(inputs, verbose=0)
    return [np.asarray(o) for o in (outputs if isinstance(outputs, list) else [outputs])]


def _assert_same_predictions(first, second, inputs):
    for mine, theirs in zip(_predictions(first, inputs), _predictions(second, inputs), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("builder", [_sequential, _functional], ids=["sequential", "functional"])
def test_a_keras_file_opens_in_course_lib(builder, tmp_path):
    keras.utils.set_random_seed(0)
    original = builder(keras)
    original.compile("adam", "mse" if builder is _sequential else ["mse", "sparse_categorical_crossentropy"])
    path = tmp_path / "from_keras.keras"
    original.save(path)
    inputs = _data()[0] if builder is _sequential else _data()
    loaded = cl.models.load_model(path)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in original.layers]
    assert loaded.count_params() == original.count_params()
    _assert_same_predictions(original, loaded, inputs)
    assert loaded.compiled and type(loaded.optimizer).__name__ == "Adam"


@pytest.mark.parametrize("builder", [_sequential, _functional], ids=["sequential", "functional"])
def test_a_course_lib_file_opens_in_keras_and_trains_on(builder, tmp_path):
    cl.utils.set_random_seed(0)
    original = builder(cl)
    losses = "sparse_categorical_crossentropy" if builder is _sequential else ["mse", "sparse_categorical_crossentropy"]
    original.compile(cl.optimizers.Adam(learning_rate=0.01), losses, metrics=["accuracy"] if builder is _sequential else None)
    inputs = _data()[0] if builder is _sequential else _data()
    labels = np.arange(16) % (3 if builder is _sequential else 2)
    targets = labels if builder is _sequential else [np.ones((16, 1), "float32"), labels]
    original.fit(inputs, targets, epochs=1, batch_size=8, shuffle=False, verbose=0)
    path = tmp_path / "from_course_lib.keras"
    original.save(path)
    loaded = keras.models.load_model(path)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in original.layers]
    _assert_same_predictions(original, loaded, inputs)
    assert type(loaded.optimizer).__name__ == "Adam"
    assert int(loaded.optimizer.iterations) == original.optimizer.iterations == 2
    # The optimizer's moments came along: both continue on the same batches to the same weights.
    ours_history = original.fit(inputs, targets, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    keras_history = loaded.fit(inputs, targets, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    np.testing.assert_allclose(ours_history["loss"], keras_history["loss"], rtol=1e-5)
    for mine, theirs in zip(original.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)


def test_weights_files_cross_both_ways_with_frozen_and_nested_layers(tmp_path):
    keras.utils.set_random_seed(1)
    theirs = _functional(keras)
    ours = _functional(cl)
    ours.get_layer("encoder").trainable = False  # non-trainable weights keep their place in the file
    theirs.get_layer("encoder").trainable = False
    assert len(ours.weights) == len(theirs.weights) >= 10
    theirs.save_weights(tmp_path / "keras.weights.h5")
    ours.load_weights(tmp_path / "keras.weights.h5")
    _assert_same_predictions(theirs, ours, _data(2))
    for layer in ours.layers:  # now write ours with new values and read them back in Keras
        layer.set_weights([w * 0.5 + 0.1 for w in layer.get_weights()])
    ours.save_weights(tmp_path / "ours.weights.h5")
    theirs.load_weights(tmp_path / "ours.weights.h5")
    _assert_same_predictions(theirs, ours, _data(3))
    # A .keras file is a weights source too, as in Keras.
    ours.save(tmp_path / "ours.keras")
    fresh = _functional(cl)
    fresh.load_weights(tmp_path / "ours.keras")
    _assert_same_predictions(fresh, ours, _data(4))


def _compiled_small(library, seed):
    library.utils.set_random_seed(seed)
    model = library.Sequential([library.Input((6,)), library.layers.Dense(3, name="dense")], name="small")
    model.compile(library.optimizers.Adam(learning_rate=0.01, name="adam"), "mse")  # named: the warning quotes it
    return model


@pytest.mark.parametrize("writer", ["keras", "course_lib"])
def test_load_weights_restores_a_built_optimizer_and_skips_an_unbuilt_one_as_keras(writer, tmp_path):
    inputs, targets = _data(5)[0], np.ones((16, 3), "float32")
    libraries = {"keras": keras, "course_lib": cl}
    source = _compiled_small(libraries[writer], 0)
    source.fit(inputs, targets, epochs=1, batch_size=8, shuffle=False, verbose=0)  # two steps
    path = tmp_path / "trained.weights.h5"
    source.save_weights(path)
    readers = {}
    for name, library in libraries.items():
        # Trained on other data for three steps: its moments and count differ from the file's.
        reader = _compiled_small(library, 1)
        reader.fit(inputs[:12] * 2, targets[:12], epochs=1, batch_size=4, shuffle=False, verbose=0)
        reader.load_weights(path)
        assert int(reader.optimizer.iterations) == 2, name
        readers[name] = reader
    for reader in readers.values():  # the same state: both continue to the same weights
        reader.fit(inputs, targets, epochs=2, batch_size=8, shuffle=False, verbose=0)
    for mine, theirs in zip(readers["course_lib"].get_weights(), readers["keras"].get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)
    messages = {}
    for name, library in libraries.items():  # compiled, never trained: only its two counters
        fresh = _compiled_small(library, 2)
        with pytest.warns(UserWarning, match="Skipping variable loading for optimizer") as caught:
            fresh.load_weights(path)
        messages[name] = str(caught[0].message)
        assert int(fresh.optimizer.iterations) == 0, name
        _assert_same_predictions(fresh, source, inputs)  # the layers' weights are loaded all the same
    assert messages["course_lib"] == messages["keras"]


def test_an_unknown_layer_in_a_keras_file_names_its_class(tmp_path):
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3),
                              keras.layers.MaxNumBoundingBoxes(max_number=3, bounding_box_format="xyxy")])
    model.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match=r"unknown layer class 'MaxNumBoundingBoxes': course_lib has no such layer"):
        cl.models.load_model(tmp_path / "m.keras")


def test_architecture_json_crosses_both_ways():
    ours = _functional(cl)
    rebuilt = keras.models.model_from_json(ours.to_json())
    assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in ours.layers]
    assert rebuilt.count_params() == ours.count_params()
    back = cl.models.model_from_json(rebuilt.to_json())
    assert [layer.name for layer in back.layers] == [layer.name for layer in ours.layers]


def test_a_registered_custom_layer_saves_and_loads(tmp_path):
    @cl.saving.register_keras_serializable(package="course")
    class Scale(cl.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def forward(self, inputs, training=False):
            return inputs * self.factor, None

        def backward(self, output_grads, cache):
            return output_grads * self.factor, {}

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    model = cl.Sequential([cl.Input((3,)), cl.layers.Dense(2), Scale(3.0)])
    model.save(tmp_path / "custom.keras")
    loaded = cl.models.load_model(tmp_path / "custom.keras")
    assert type(loaded.layers[1]) is Scale and loaded.layers[1].factor == 3.0
    x = np.ones((2, 3), "float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def _masked_transformer():
    ids = keras.Input((7,), dtype="int32")
    embedded = keras.layers.Embedding(20, 8, mask_zero=True)(ids)
    attended = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)(embedded, embedded)
    joined = keras.layers.LayerNormalization()(keras.layers.Add()([embedded, attended]))
    return keras.Model(ids, keras.layers.Dense(1)(keras.layers.GlobalAveragePooling1D()(joined))), "ids"


def _masking_lstm():
    steps = keras.Input((5, 2))
    return keras.Model(steps, keras.layers.LSTM(3)(keras.layers.Masking(0.0)(steps))), "steps"


def _concatenated_masks():
    ids = keras.Input((5,), dtype="int32")
    joined = keras.layers.Concatenate()([keras.layers.Embedding(10, 4, mask_zero=True)(ids),
                                         keras.layers.Embedding(10, 2)(ids)])
    return keras.Model(ids, keras.layers.LSTM(3)(joined)), "ids"


@pytest.mark.parametrize("build", [_masked_transformer, _masking_lstm, _concatenated_masks],
                         ids=lambda build: build.__name__.strip("_"))
def test_keras_files_whose_masks_pass_through_keras_ops_load_and_predict_the_same(build, tmp_path):
    """Keras writes the mask arithmetic of these models as keras.ops nodes (NotEqual, Any, ExpandDims,
    LogicalOr, OnesLike, Concatenate ...); course_lib recomputes masks by its protocol and skips them."""
    keras.utils.set_random_seed(0)
    theirs, kind = build()
    theirs.save(tmp_path / "masked.keras")
    ours = cl.load_model(tmp_path / "masked.keras")
    generator = np.random.default_rng(0)
    if kind == "ids":
        x = generator.integers(1, 10, (4,) + tuple(theirs.input_shape[1:])).astype("int32")
        x[:, -2:] = 0  # padding at the end of every row
        x[0, 1:] = 0  # and a row of one real step
    else:
        x = generator.standard_normal((4, 5, 2)).astype("float32")
        x[:, -2:] = 0.0
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_a_keras_op_that_computes_more_than_a_mask_is_named_in_the_error(tmp_path):
    values = keras.Input((3,))
    theirs = keras.Model(values, keras.layers.Dense(2)(keras.ops.exp(values)))
    theirs.save(tmp_path / "ops.keras")
    with pytest.raises(ValueError, match=r"'Exp' is a keras\.ops operation .* course_lib loads layers"):
        cl.load_model(tmp_path / "ops.keras")


def test_save_model_functions_write_what_model_save_writes_and_refuse_as_keras(tmp_path):
    x = np.random.default_rng(7).standard_normal((4, 6)).astype("float32")
    ours = _sequential(cl)
    cl.models.save_model(ours, tmp_path / "models.keras")
    cl.saving.save_model(ours, tmp_path / "saving.keras", save_format="keras")  # deprecated, warned, as in Keras
    for name in ("models.keras", "saving.keras"):
        loaded = keras.models.load_model(tmp_path / name)
        np.testing.assert_allclose(np.asarray(loaded.predict(x, verbose=0)), ours.predict(x, verbose=0),
                                   rtol=1e-6, atol=1e-6)
    for library in (keras, cl):
        model = _sequential(library)
        with pytest.raises(ValueError, match="argument\\(s\\) are not supported: \\['compression'\\]"):
            library.models.save_model(model, tmp_path / "x.keras", compression=True)
        with pytest.raises(ValueError, match="`save_format` argument is deprecated in Keras 3"):
            library.models.save_model(model, tmp_path / "x.bin", save_format="tf")
    with pytest.raises(ValueError, match="course_lib writes zipped `.keras` files only"):
        ours.save(tmp_path / "folder.keras", zipped=False)
    with pytest.raises(TypeError, match="save_model: expected a course_lib model"):
        cl.models.save_model(keras.Sequential([keras.Input((2,))]), tmp_path / "k.keras")
