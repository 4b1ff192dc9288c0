"""course_lib's TensorBoard callback writes the event files tf.keras's writes, read back by TensorFlow's reader.

Both libraries train the same model from the same weights on the same data
(``shuffle=False``); TensorFlow's ``summary_iterator`` reads both log
directories, which also checks course_lib's framing and checksums. Compared:
the set of (folder, tag, step), each summary's plugin and its content, and the
values: the metrics within 1e-5 (the fits' own agreement), the weight
histograms' edges and counts, the weight images' pixels. Timing values
(``steps_per_second``) are compared by presence only.
"""
import glob
import json
import os

import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tensorboard")  # tf.keras's callback needs it to write summaries
keras = tf.keras

pytestmark = pytest.mark.parity

TIMING = ("epoch_steps_per_second", "batch_steps_per_second")


def _read(directory):
    """``{(folder, tag, step): (plugin, content, value)}`` of every summary under ``directory``."""
    found = {}
    for path in sorted(glob.glob(os.path.join(directory, "*", "events.out.tfevents.*"))):
        folder = os.path.basename(os.path.dirname(path))
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                key = (folder, value.tag, event.step)
                assert key not in found, f"{key} written twice"
                found[key] = (value.metadata.plugin_data.plugin_name, value.metadata.plugin_data.content,
                              tf.make_ndarray(value.tensor))
    return found


def _dense(module):
    module.utils.set_random_seed(0)
    return module.Sequential([module.Input((3,)), module.layers.Dense(4, activation="relu", name="hidden"),
                              module.layers.Dense(2, name="out")], name="net")  # named: the tags hold it


def _data():
    generator = np.random.default_rng(0)
    return generator.random((40, 3)).astype("float32"), generator.random((40, 2)).astype("float32")


def _fit_both(tmp_path, build, fit_kwargs, **callback_kwargs):
    """Train the same model in both libraries with a TensorBoard callback each: their two logs, read."""
    x, y = _data()
    theirs = build(keras)
    ours = build(cl)
    ours.set_weights(theirs.get_weights())
    logs = {}
    for name, module, model in (("keras", keras, theirs), ("ours", cl, ours)):
        model.compile(optimizer=module.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
        directory = str(tmp_path / name)
        callback = module.callbacks.TensorBoard(directory, **callback_kwargs)
        model.fit(x, y, shuffle=False, verbose=0, callbacks=[callback], **fit_kwargs)
        logs[name] = _read(directory)
    return logs


def _assert_same_logs(logs):
    theirs, ours = logs["keras"], logs["ours"]
    assert set(ours) == set(theirs)
    assert theirs, "nothing was logged"
    for key, (plugin, content, value) in theirs.items():
        own_plugin, own_content, own_value = ours[key]
        assert (own_plugin, own_content) == (plugin, content), key
        if key[1] in TIMING:
            continue
        if plugin == "graph_keras_model":
            assert json.loads(own_value.item())["class_name"] == json.loads(value.item())["class_name"]
            keras.models.model_from_json(own_value.item().decode())  # Keras reads course_lib's JSON
        elif plugin == "images":
            assert own_value[:2].tolist() == value[:2].tolist(), key  # width, height
            assert len(own_value) == len(value), key
            for mine, expected in zip(own_value[2:], value[2:]):
                np.testing.assert_array_equal(tf.io.decode_png(mine).numpy(), tf.io.decode_png(expected).numpy())
        else:
            assert own_value.dtype == value.dtype and own_value.shape == value.shape, key
            if plugin == "histograms":
                np.testing.assert_allclose(own_value[:, :2], value[:, :2], rtol=1e-5, atol=1e-6, err_msg=str(key))
                # a weight on a bucket edge may fall on either side after the fits' float32 differences
                assert np.abs(own_value[:, 2] - value[:, 2]).sum() <= 2, key
                assert own_value[:, 2].sum() == value[:, 2].sum(), key
            else:
                np.testing.assert_allclose(own_value, value, rtol=1e-5, atol=1e-6, err_msg=str(key))


@pytest.mark.parametrize("callback_kwargs", [
    {},
    {"histogram_freq": 1},
    {"histogram_freq": 2, "update_freq": "batch"},
    {"update_freq": 3},  # Keras's odd corner: epochs whose batch count is not a multiple of 3 log nothing
    {"write_graph": False, "write_steps_per_second": True, "update_freq": 2},
], ids=["default", "histograms", "batches", "every-3", "timing"])
def test_fit_logs_what_keras_logs(tmp_path, callback_kwargs):
    logs = _fit_both(tmp_path, _dense, {"epochs": 3, "batch_size": 8, "validation_split": 0.25}, **callback_kwargs)
    _assert_same_logs(logs)
    tags = {tag for _, tag, _ in logs["ours"]}
    assert {"epoch_loss", "epoch_mae", "epoch_learning_rate", "evaluation_loss_vs_iterations"} <= tags
    if callback_kwargs.get("histogram_freq"):
        assert "net/hidden/kernel/histogram" in tags
    if callback_kwargs.get("write_steps_per_second"):
        assert {"epoch_steps_per_second", "batch_steps_per_second"} <= tags


def test_weight_images_are_the_pixels_keras_draws(tmp_path):
    def build(module):
        module.utils.set_random_seed(1)
        return module.Sequential([module.Input((6, 2)), module.layers.Conv1D(3, 2, name="conv"),
                                  module.layers.Flatten(), module.layers.Dense(2, name="out")], name="net")

    generator = np.random.default_rng(2)
    x, y = generator.random((16, 6, 2)).astype("float32"), generator.random((16, 2)).astype("float32")
    theirs, ours = build(keras), build(cl)
    ours.set_weights([w * 4 for w in theirs.get_weights()])  # beyond [0, 1]: the clip shows too
    theirs.set_weights([w * 4 for w in theirs.get_weights()])
    logs = {}
    for name, module, model in (("keras", keras, theirs), ("ours", cl, ours)):
        model.compile(optimizer="sgd", loss="mse")
        directory = str(tmp_path / name)
        model.fit(x, y, epochs=1, batch_size=16, verbose=0,
                  callbacks=[module.callbacks.TensorBoard(directory, histogram_freq=1, write_images=True)])
        logs[name] = _read(directory)
    _assert_same_logs(logs)
    images = {tag for _, tag, _ in logs["ours"] if tag.endswith("/image")}
    assert images == {"net/conv/kernel/image", "net/conv/bias/image", "net/out/kernel/image", "net/out/bias/image"}


def test_evaluate_and_a_functional_model_log_as_in_keras(tmp_path):
    def build(module):
        module.utils.set_random_seed(3)
        inputs = module.Input((3,))
        return module.Model(inputs, module.layers.Dense(2, name="out")(inputs), name="net")

    logs = _fit_both(tmp_path, build, {"epochs": 2, "batch_size": 10, "validation_data": _data()})
    _assert_same_logs(logs)
    assert ("train", "keras", 0) in logs["ours"]
    x, y = _data()
    theirs, ours = build(keras), build(cl)
    ours.set_weights(theirs.get_weights())
    for name, module, model in (("keras", keras, theirs), ("ours", cl, ours)):
        model.compile(optimizer="sgd", loss="mse")
        model.evaluate(x, y, verbose=0, callbacks=[module.callbacks.TensorBoard(str(tmp_path / f"eval-{name}"))])
    evaluated = {name: _read(str(tmp_path / f"eval-{name}")) for name in ("keras", "ours")}
    _assert_same_logs(evaluated)
    assert ("validation", "evaluation_loss_vs_iterations", 0) in evaluated["ours"]


def test_a_subclassed_model_writes_no_model_json_as_in_keras(tmp_path):
    for name, module in (("keras", keras), ("ours", cl)):
        class Doubled(module.Model):
            def __init__(self):
                super().__init__()
                self.dense = module.layers.Dense(2)

            def call(self, inputs):
                return self.dense(inputs) * 2.0

        model = Doubled()
        model.compile(optimizer="sgd", loss="mse")
        x, y = _data()
        model.fit(x, y, epochs=1, verbose=0, callbacks=[module.callbacks.TensorBoard(str(tmp_path / name))])
        assert not any(tag == "keras" for _, tag, _ in _read(str(tmp_path / name))), name


def test_embeddings_write_keras_s_projector_files(tmp_path):
    def build(module):
        module.utils.set_random_seed(4)
        return module.Sequential([module.Input((5,), dtype="int32"), module.layers.Embedding(10, 3, name="words"),
                                  module.layers.GlobalAveragePooling1D(), module.layers.Dense(1)], name="net")

    x = np.random.default_rng(5).integers(0, 10, (12, 5)).astype("int32")
    y = np.random.default_rng(6).random((12, 1)).astype("float32")
    written = {}
    for name, module in (("keras", keras), ("ours", cl)):
        model = build(module)
        model.compile(optimizer="sgd", loss="mse")
        directory = tmp_path / name
        model.fit(x, y, epochs=2, verbose=0, callbacks=[module.callbacks.TensorBoard(
            str(directory), embeddings_freq=1, embeddings_metadata={"words": "words.tsv"})])
        paths = glob.glob(f"{directory}/**/*", recursive=True)
        written[name] = sorted(os.path.relpath(path, directory) for path in paths if "tfevents" not in path)
        written[name + "-config"] = (directory / "projector_config.pbtxt").read_text()
    assert written["ours"] == written["keras"]
    assert written["ours-config"] == written["keras-config"]
    with pytest.raises(ValueError, match="Unrecognized `Embedding` layer names"):
        model = build(cl)
        model.compile(optimizer="sgd", loss="mse")
        model.fit(x, y, epochs=1, verbose=0, callbacks=[cl.callbacks.TensorBoard(
            str(tmp_path / "bad"), embeddings_freq=1, embeddings_metadata={"nothing": "x.tsv"})])


def test_profiling_is_refused_as_keras_refuses_it_without_a_profiler():
    with pytest.raises(ValueError, match="profile_batch must be 0"):
        cl.callbacks.TensorBoard(profile_batch=2)
    with pytest.raises(ValueError, match="update_freq must be 'epoch', 'batch' or a positive int"):
        cl.callbacks.TensorBoard(update_freq="sometimes")
    with pytest.raises(ValueError, match="histogram_freq must be an int >= 0"):
        cl.callbacks.TensorBoard(histogram_freq=-1)
