# llmcourse: `make lab` opens the course, `make test` runs every test.
# Both build .venv from requirements.lock and fetch the offline model first, if needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Same numbers on every x86-64 CPU with AVX2: fixed threads and instruction set (see tests/README.md).
DETERMINISM := OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_CBWR=AVX2 PYTHONHASHSEED=0 TOKENIZERS_PARALLELISM=false
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with nbval_sanitize.cfg --ignore-glob="*/exercises/*"

.PHONY: setup model lab test test-fast test-browser notebooks translations normalize exercises colab handouts bench lock clean

setup: $(STAMP)
$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

model: setup
	$(BIN)/python -m llmcourse fetch

lab: model
	$(BIN)/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

test: model
	$(DETERMINISM) $(BIN)/python -m pytest tests -m "not browser" $(NBVAL) notebooks

test-fast: setup
	$(BIN)/python -m pytest tests -m "not slow and not browser"

test-browser: model
	scripts/browser_setup.sh
	$(BIN)/python -m pytest tests/browser

notebooks: model translations
	$(DETERMINISM) $(BIN)/python scripts/run_notebooks.py notebooks
	$(MAKE) colab exercises

translations: setup
	$(BIN)/python scripts/translate.py

colab: setup
	$(BIN)/python scripts/colab.py

exercises: setup
	$(BIN)/python scripts/exercises.py

normalize: setup
	$(BIN)/python scripts/normalize_notebooks.py notebooks

handouts: setup
	$(BIN)/python scripts/handouts.py

bench: model
	$(BIN)/python benchmarks/run.py

lock: setup
	$(BIN)/python scripts/write_lock.py > requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache handouts
