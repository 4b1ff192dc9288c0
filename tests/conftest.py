"""Shared fixtures: quiet TensorFlow, fresh names and seeds for every test."""
import os
import re
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

import numpy as np
import pytest

from course_lib import backend


@pytest.fixture(autouse=True)
def _fresh_state():
    """Each test starts with automatic names reset and a known seed."""
    backend.clear_session()
    backend.set_seed(1234)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def float64_in_both():
    """floatx float64 in course_lib and in tf.keras for one test, float32 again after it.

    Keras caches its global dtype policy the first time a layer asks for it, and
    ``set_floatx`` alone leaves that cache as it is: once any earlier test of the same
    process has built a Keras layer, new Keras layers would stay float32. The cache is
    forgotten here, before and after, as in a fresh process.
    """
    keras = pytest.importorskip("tensorflow").keras
    from keras.src.backend.common import global_state

    global_state.set_global_attribute("dtype_policy", None)
    keras.config.set_floatx("float64")
    backend.set_floatx("float64")
    yield
    keras.config.set_floatx("float32")
    backend.set_floatx("float32")
    global_state.set_global_attribute("dtype_policy", None)


# TensorFlow's channels_first convolutions, its dilated transposed convolutions and its depthwise
# convolutions with unequal strides exist on the CPU only as oneDNN kernels, which TensorFlow turns on
# by itself on recent Intel CPUs but not elsewhere (an AMD EPYC with AVX2, measured; forcing them on
# there with TF_ENABLE_ONEDNN_OPTS=1 gives wrong, varying float32 kernel gradients for some strided
# transposed convolutions). Where TensorFlow says it has no kernel, the parity case has no oracle on
# this machine: it is reported as skipped, with TensorFlow's words, not as a failure of course_lib.
# Every other error still fails the test.
_NO_CPU_KERNEL = re.compile(r"only supports (the )?N(D)?HWC|not yet support dilation rates larger than 1"
                            r"|only supports equal length strides in the row and column dimensions")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if call.when != "call" or call.excinfo is None:
        return
    errors = getattr(sys.modules.get("tensorflow"), "errors", None)
    if errors is None or not isinstance(call.excinfo.value, errors.OpError):
        return
    found = _NO_CPU_KERNEL.search(str(call.excinfo.value))
    if found:
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0,
                           f"Skipped: this TensorFlow has no CPU kernel for the oracle ('{found.group(0)}': "
                           "oneDNN is off on this CPU)")
