"""RemoteMonitor posts what tf.keras's posts, to a server on this machine (no network).

A small HTTP server in a thread records every request; both libraries train the same model
from the same weights and post each epoch's logs to it. Compared: the path, the content type,
the extra headers and the JSON sent (the metrics within the fits' own 1e-5).
"""
import http.server
import json
import threading
import urllib.parse
import warnings

import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
pytest.importorskip("requests")  # tf.keras's RemoteMonitor posts with it
keras = tf.keras

pytestmark = pytest.mark.parity


@pytest.fixture
def server():
    received = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802  (the name http.server calls)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "type": self.headers["Content-Type"],
                             "token": self.headers.get("X-Token"), "body": body})
            self.send_response(404 if self.path.endswith("/missing/") else 200)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", received
    httpd.shutdown()
    httpd.server_close()


def _payload(request):
    if request["type"] == "application/json":
        return json.loads(request["body"])
    form = urllib.parse.parse_qs(request["body"].decode())
    assert list(form) == ["logs"]
    return json.loads(form["logs"][0])


@pytest.mark.parametrize("send_as_json", [False, True])
def test_each_epoch_posts_what_keras_posts(server, send_as_json):
    root, received = server
    x = np.random.default_rng(0).random((24, 3)).astype("float32")
    y = np.random.default_rng(1).random((24, 1)).astype("float32")
    keras.utils.set_random_seed(0)
    theirs = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    ours = cl.testing.from_keras(theirs)
    posted = {}
    for name, module, model in (("keras", keras, theirs), ("ours", cl, ours)):
        model.compile(optimizer=module.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
        monitor = module.callbacks.RemoteMonitor(root=root, path="/epochs/", field="logs",
                                                 headers={"X-Token": "t"}, send_as_json=send_as_json)
        model.fit(x, y, epochs=2, batch_size=8, validation_split=0.25, shuffle=False, verbose=0, callbacks=[monitor])
        posted[name] = received[:]
        received.clear()
    assert len(posted["ours"]) == len(posted["keras"]) == 2
    for mine, reference in zip(posted["ours"], posted["keras"]):
        assert (mine["path"], mine["type"], mine["token"]) == (reference["path"], reference["type"], reference["token"])
        ours_sent, keras_sent = _payload(mine), _payload(reference)
        assert list(ours_sent) == list(keras_sent) and ours_sent["epoch"] == keras_sent["epoch"]
        for key in keras_sent:
            assert ours_sent[key] == pytest.approx(keras_sent[key], rel=1e-5, abs=1e-6), key


def test_an_unreachable_server_warns_and_an_error_status_is_ignored_as_in_keras(server):
    root, received = server
    model = cl.Sequential([cl.Input((2,)), cl.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((4, 2), "float32")
    with pytest.warns(UserWarning, match="Could not reach RemoteMonitor root server at http://127.0.0.1:9"):
        model.fit(x, x[:, :1], epochs=1, verbose=0, callbacks=[cl.callbacks.RemoteMonitor(root="http://127.0.0.1:9")])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a 404 is an answer: no warning
        model.fit(x, x[:, :1], epochs=1, verbose=0, callbacks=[cl.callbacks.RemoteMonitor(root=root, path="/missing/")])
    assert [request["path"] for request in received] == ["/missing/"]
