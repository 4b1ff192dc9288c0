"""Shared fixtures: quiet TensorFlow, fresh names and seeds for every test."""
import os

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
