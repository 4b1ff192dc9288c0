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
