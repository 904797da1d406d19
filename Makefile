# Set-up and checks. `make test` and `make fit` are the README's two commands; both set up first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# A local directory of wheels (the CPU build of torch lives there on our machines) is used when present.
WHEELS ?= /opt/wheels
PIP_FLAGS := $(if $(wildcard $(WHEELS)),--find-links $(WHEELS),)
# On a machine without a local CPU wheel, take torch from PyTorch's CPU index instead of PyPI's CUDA build.
TORCH_INDEX ?= $(if $(wildcard $(WHEELS)/torch-*),,--extra-index-url https://download.pytorch.org/whl/cpu)

.PHONY: setup test lint format fit clean

LINT_PATHS := forecaster tests $(wildcard benchmarks)

$(BIN)/forecast: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(PIP_FLAGS) $(TORCH_INDEX) -c constraints.txt "torch==2.13.0"
	$(BIN)/python -m pip install --quiet $(PIP_FLAGS) -c constraints.txt -e ".[dev,ray]"
	@touch $@

setup: $(BIN)/forecast

lint: setup
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

format: setup
	$(BIN)/ruff format $(LINT_PATHS)
	$(BIN)/ruff check --fix $(LINT_PATHS)

test: setup lint
	$(BIN)/python -m pytest -q
	$(BIN)/python -m pytest -q --nbmake notebooks

fit: setup
	$(BIN)/forecast fit --ticker AAPL

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
