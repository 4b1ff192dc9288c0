"""course_lib keeps freed array memory for the next training step (glibc's malloc thresholds)."""
import json
import platform
import subprocess
import sys

import pytest

from course_lib import backend

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# Allocates and fills a 24 MiB array (below KEPT_BLOCK_BYTES, above glibc's initial 128 KiB
# threshold), frees it and reports how much of it the process still holds.
_CHILD = """
import json, os
import numpy as np
from course_lib import backend

def resident():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

before = resident()
block = np.ones(6 * 2**20, dtype=np.float32)
during = resident()
del block
print(json.dumps({"kept": backend.keeps_freed_memory(), "held": resident() - before,
                  "allocated": during - before}))
"""


def _child(**environment):
    result = subprocess.run([sys.executable, "-c", _CHILD], env={"PATH": "", **environment},
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


@pytest.mark.skipif(not GLIBC, reason="the setting exists only in glibc's malloc (Linux)")
def test_importing_course_lib_keeps_a_freed_array_for_reuse_and_the_environment_turns_it_off():
    kept = _child()
    assert kept["kept"] is True
    assert kept["allocated"] >= 20 * 2**20
    assert kept["held"] >= 20 * 2**20, kept  # freed, but still the process's: the next step reuses it
    returned = _child(COURSE_LIB_KEEP_FREED_MEMORY="0")
    assert returned["kept"] is False
    assert returned["held"] < 4 * 2**20, returned  # glibc's default: the block went back at once


@pytest.mark.skipif(not GLIBC, reason="the setting exists only in glibc's malloc (Linux)")
def test_keep_freed_memory_can_be_turned_off_and_on_again():
    try:
        assert backend.keep_freed_memory(False) is False
        assert backend.keeps_freed_memory() is False
    finally:
        assert backend.keep_freed_memory() is True
    assert backend.keeps_freed_memory() is True


def test_without_glibc_nothing_changes_and_it_says_so(monkeypatch):
    monkeypatch.setattr(backend, "_mallopt", lambda: None)
    monkeypatch.setattr(backend, "_freed_memory_kept", True)
    assert backend.keep_freed_memory() is False
    assert backend.keeps_freed_memory() is False


def test_a_process_that_may_not_load_c_libraries_still_imports_course_lib(monkeypatch):
    """The grader's sandbox refuses ctypes: course_lib must import there and change nothing."""
    import ctypes

    def refused(*args, **kwargs):
        raise PermissionError("the grader's sandbox refuses ctypes.dlopen")

    monkeypatch.setattr(ctypes, "CDLL", refused)
    monkeypatch.setattr(backend, "_freed_memory_kept", True)
    assert backend.keep_freed_memory() is False
    assert backend.keeps_freed_memory() is False
