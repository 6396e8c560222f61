# llmcourse: `make lab` opens the course, `make test` runs every test.
# Both build .venv from requirements.lock and fetch the offline model first, if needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Same numbers on every x86-64 CPU with AVX2: fixed threads and instruction set (see tests/README.md).
DETERMINISM := OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_CBWR=AVX2 PYTHONHASHSEED=0 TOKENIZERS_PARALLELISM=false
# `make test` runs WORKERS pytest workers side by side (pytest-xdist), one thread each; conftest.py groups the work.
WORKERS ?= 2
ONE_THREAD := $(subst _THREADS=2,_THREADS=1,$(DETERMINISM))
XDIST := -n $(WORKERS) --dist loadscope --no-loadscope-reorder
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with nbval_sanitize.cfg --ignore-glob="*/exercises/*"

.PHONY: setup model lab test lint test-fast test-browser screenshots test-gpu test-colab notebooks translations normalize \
	exercises colab handouts bench lock clean hub hub-setup test-hub

# Which torch build `make setup` installs (the version is the one in requirements.lock):
#   TORCH=default  whatever pip finds for torch==<lock>: on this project's build machines a local CPU wheel,
#                  on an ordinary Linux machine PyPI's CUDA build (several GB with its nvidia-* packages)
#   TORCH=cpu      the CPU build from PyTorch's CPU index (about 200 MB): laptops and CPU classroom servers
#   TORCH=cu128    a CUDA build from PyTorch's index for that CUDA version (cu126, cu128...): GPU machines
TORCH ?= default
TORCH_PIN := $(shell grep -m1 '^torch==' requirements.lock)
TORCH_INDEX := $(if $(filter default,$(TORCH)),,--index-url https://download.pytorch.org/whl/$(TORCH))

setup: $(STAMP)
$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "$(TORCH_PIN)" $(TORCH_INDEX)
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

model: setup
	$(BIN)/python -m llmcourse fetch

lab: model
	$(BIN)/jupyter lab notebooks/ --LabApp.default_url=/lab/tree/exercises --LabApp.app_settings_dir=$(CURDIR)/classroom/lab-settings $(if $(filter 0,$(shell id -u)),--allow-root)

test: model lint
	$(DETERMINISM) $(BIN)/python -m pytest --doctest-modules llmcourse
	$(ONE_THREAD) $(BIN)/python -m pytest $(XDIST) --durations=15 tests -m "not browser and not hub" $(NBVAL) notebooks

lint: setup
	$(BIN)/ruff check llmcourse tests scripts benchmarks conftest.py

# The tests that take seconds each, with the same pins as `make test`; no notebooks, slow, browser or hub tests.
test-fast: model
	$(DETERMINISM) $(BIN)/python -m pytest tests -m "not slow and not browser and not hub"

test-browser: model
	scripts/browser_setup.sh
	$(BIN)/python -m pytest tests/browser

# docs/explorer.en.png and docs/explorer.ja.png: the explorer widget, as tests/browser/test_lab_explorer.py leaves it.
screenshots: model
	scripts/browser_setup.sh
	LLMCOURSE_SCREENSHOTS=docs $(BIN)/python -m pytest tests/browser/test_lab_explorer.py

notebooks: model translations
	$(DETERMINISM) $(BIN)/python -m scripts.run_notebooks notebooks
	$(MAKE) colab exercises

translations: setup
	$(BIN)/python -m scripts.translate

colab: setup
	$(BIN)/python -m scripts.colab

exercises: setup
	$(BIN)/python -m scripts.exercises

normalize: setup
	$(BIN)/python -m scripts.normalize_notebooks notebooks

handouts: setup
	$(BIN)/python -m scripts.handouts

bench: model
	$(BIN)/python benchmarks/run.py

# On a CUDA machine (install with TORCH=cu128 or the like): 4-bit loading, lessons 01/03/05/08 headless, assisted ==
# plain greedy on CUDA, fp16 and 4-bit tokens/s next to the bandwidth floor; under 5 minutes. Without CUDA it says so
# and exits 0. Not part of `make test`.
test-gpu: model
	$(BIN)/python benchmarks/gpu_check.py

lock: setup
	$(BIN)/python -m scripts.write_lock

clean:
	rm -rf $(VENV) .pytest_cache handouts

# Lessons 00, 01, 03, 05 on Colab-like runtimes, from their own install cells (tests/colab; minutes).
test-colab: setup
	LLMCOURSE_TEST_COLAB=1 $(BIN)/python -m pytest tests/colab -v -s --durations=0

# JupyterHub, its authenticator and the classroom's npm packages, on top of the course's own (classroom/).
hub-setup: model
	$(BIN)/python -m pip install -q -r requirements-hub.lock && npm ci --prefix classroom --no-audit --no-fund

hub: hub-setup
	LLMCOURSE_CACHE=$${LLMCOURSE_HUB_CACHE:-/srv/llmcourse-cache} $(BIN)/python -m llmcourse fetch
	$(BIN)/jupyterhub -f classroom/jupyterhub_config.py

test-hub: hub-setup
	$(BIN)/python -m pytest tests/hub -m hub -s
