#!/usr/bin/env bash
# The GPU run owed by the GPU issue, prepared to go in one call of the device tool:
#   course_lib on CuPy against Keras 3 on JAX, on the same GPU (that machine has no TensorFlow
#   and no network). Packages it lacks travel as wheels in .whl/ (keras, h5py, rich, pytest if
#   missing: see /work/.library/device/README.md); the report lands in $OUT.
set -uo pipefail
out="${OUT:-/tmp/gpu-report}"
mkdir -p "$out"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH="/tmp/site:$PWD"
else
    export PYTHONPATH="$PWD"
fi
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.txt" 2>&1
python3 -c "import cupy, jax, keras; print('cupy', cupy.__version__, 'jax', jax.__version__, 'keras', keras.__version__)" \
    >> "$out/gpu.txt" 2>&1
python3 -m pytest -m gpu tests/gpu -v -rs -p no:cacheprovider 2>&1 | tee "$out/gpu_tests.log"
echo "exit ${PIPESTATUS[0]}" >> "$out/gpu_tests.log"
