# Two commands matter: `make book` builds the HTML book, `make test` runs every test.
# Both create .venv and install requirements.txt on first use (only Python and pip needed).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: book test test-gpu bench release grade clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

book: $(STAMP)  ## build the HTML book into _build/html (every chapter executed)
	$(BIN)/jupyter-book build . -W -n --keep-going

test: $(STAMP)  ## run the whole test suite (unit, gradient checks, parity, grading, book)
	$(BIN)/python -m pytest -n 2 --dist loadfile

test-gpu: $(STAMP)  ## the GPU parity tests (course_lib on CuPy vs Keras 3 on JAX); skipped without a GPU
	KERAS_BACKEND=jax $(BIN)/python -m pytest -m gpu tests/gpu -v

# A machine may pin OpenBLAS to older kernels (for old builds that misbehave on its CPU); the
# benchmarks measure the NumPy the venv installs, so they run without that pin (benchmarks/blas.py).
# `make bench BENCH_ENV=` keeps it. Tests and CI never change it.
BENCH_ENV ?= env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE
bench: $(STAMP)  ## course_lib against tf.keras and scikit-learn, printed as ratios
	$(BENCH_ENV) $(BIN)/python benchmarks/bench_mlp.py
	$(BENCH_ENV) $(BIN)/python benchmarks/bench_cnn.py
	$(BENCH_ENV) $(BIN)/python benchmarks/bench_rnn.py
	$(BENCH_ENV) $(BIN)/python benchmarks/bench_attention.py
	$(BENCH_ENV) $(BIN)/python benchmarks/bench_augment.py
	$(BENCH_ENV) $(BIN)/python benchmarks/bench_ml_linear.py
	$(BENCH_ENV) $(BIN)/python benchmarks/bench_ml_trees.py
	$(BENCH_ENV) $(BIN)/python benchmarks/bench_ml_neighbors.py
	$(BENCH_ENV) $(BIN)/python benchmarks/bench_ml_cluster.py

ASSIGNMENTS := $(notdir $(wildcard solutions/assignment*))
release: $(STAMP)  ## regenerate exercises/ from solutions/ with nbgrader, every assignment
	# nbgrader runs `alembic` from PATH to create its gradebook: put the venv first.
	for assignment in $(ASSIGNMENTS); do \
		PATH="$(CURDIR)/$(BIN):$$PATH" nbgrader generate_assignment $$assignment --force || exit 1; \
	done

ASSIGNMENT ?= assignment1
grade: $(STAMP)  ## grade every submission of ASSIGNMENT in parallel (trusted grader), then nbgrader autograde
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m course_lib.grading.grade_class $(ASSIGNMENT)

clean:
	rm -rf _build .pytest_cache
