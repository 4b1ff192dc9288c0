"""Which matrix-product kernels NumPy runs, printed beside every ratio.

course_lib's speed is NumPy's BLAS (OpenBLAS in NumPy's wheels), tf.keras's is
oneDNN: a ratio means little without the kernel NumPy used. OpenBLAS picks its
kernels for the CPU it finds, unless ``OPENBLAS_CORETYPE`` names them. Some
machines set it (with ``OPENBLAS_L2_SIZE``) to an older kernel family because
old OpenBLAS builds compute wrong results or crash there; a current NumPy then
runs its AVX2 products on an AVX-512 CPU at about half their speed. ``make
bench`` therefore runs the benchmarks with both unset, in those commands only
(``make bench BENCH_ENV=`` keeps them); tests and CI never change them.
"""
import os

import numpy as np

_TUNING = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def _openblas():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [info for info in threadpool_info() if info.get("internal_api") == "openblas"]


def _avx512():
    try:
        with open("/proc/cpuinfo") as handle:
            return "avx512f" in handle.read()
    except OSError:
        return False


def describe():
    """One line: NumPy's version, its OpenBLAS kernels and threads, the tuning variables set."""
    parts = [f"numpy {np.__version__}"]
    for info in _openblas():  # NumPy's own, and SciPy's once scikit-learn or SciPy is imported
        path = info.get("filepath", "")
        owner = next((name for name in ("numpy", "scipy") if f"{os.sep}{name}.libs{os.sep}" in path),
                     os.path.basename(path))
        parts.append(f"{owner}'s OpenBLAS {info.get('version')}: {info.get('architecture')} kernels "
                     f"on {info.get('num_threads')} threads")
    chosen = [f"{name}={os.environ[name]}" for name in _TUNING if name in os.environ]
    parts.append(", ".join(chosen) + " set" if chosen else "no OPENBLAS_* kernel choice set")
    line = "BLAS: " + "; ".join(parts)
    if _avx512() and any(info.get("architecture") == "Haswell" for info in _openblas()):
        line += ("\n  hint: these are AVX2 kernels on an AVX-512 CPU; unset "
                 f"{' and '.join(_TUNING)} in the benchmark's command alone (make bench does) "
                 "and NumPy's products run about twice as fast")
    return line
