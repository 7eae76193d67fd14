# make demo: set up .venv and run the main job on the built-in CPU model.
# make test: install the test tools into the same .venv, lint, and run the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU wheel; on a GPU machine: make demo TORCH_SPEC="torch>=2.4"
TORCH_SPEC ?= torch==2.13.0

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

# The main job on the built-in CPU model: data subsets, centralized + FedAvg/FedProx/FedAdam training,
# evaluation of each and the baselines, the comparison report (configs/experiments/demo_cpu.yaml).
demo: $(VENV)/.installed
	HF_HUB_OFFLINE=1 $(BIN)/fedjava experiment --preset demo_cpu

test: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

bench: $(VENV)/.installed
	$(BIN)/python -m fedjava.bench.train_speed

clean:
	rm -rf $(VENV) java_error_federated_results
