# tuiapp: `make run` sets everything up and starts the app; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tuiapp-installed
# llama-cpp-python compiles llama.cpp. A portable CPU build: no -march=native and no AMX, whose
# matmul segfaults on quantized models on CPUs that report it (see ARCHITECTURE.md, "Facts the
# code depends on"). Set CMAKE_ARGS yourself for another backend, e.g.
# CMAKE_ARGS="-DGGML_CUDA=on" make run.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
CMAKE_ARGS ?= $(LLAMA_CMAKE_ARGS)
export CMAKE_ARGS
# Training needs torch. Where there is no NVIDIA GPU, pin the CPU build (a local file on dev/CI
# machines; an unpinned torch pulls a multi-GB CUDA build). With a GPU, take the default (CUDA)
# build. Override either way: make run TORCH="torch==2.13.0".
TORCH ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && echo torch || echo torch==2.13.0)

.PHONY: run test setup lint bench docs clean

run: setup
	$(BIN)/tuiapp

setup: $(STAMP)

$(STAMP): pyproject.toml plugins/pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install "$(TORCH)"
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/python -m pip install -e '.[dev,train]' -e ./plugins
	$(BIN)/tuiapp models prepare
	touch $(STAMP)

test: setup
	@command -v tmux >/dev/null || { echo "make test needs tmux (e.g. apt-get install tmux)"; exit 1; }
	$(BIN)/ruff check tuiapp tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check tuiapp tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/ruff format --check tuiapp tests bench

bench: setup
	$(BIN)/python bench/bench_chat.py

# docs/CLI.md, docs/HOOKS.md, docs/MODULES.md from the code; tests/test_reference.py checks them.
docs: setup
	$(BIN)/python -m tuiapp.reference

clean:
	rm -rf $(VENV) build *.egg-info
