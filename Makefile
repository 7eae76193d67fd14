# make demo: set up .venv and run the main job on the built-in CPU model.
# make test: install the test tools into the same .venv, lint, and run the test suite.
# Both install bubblewrap when it is missing (as root): untrusted Java code runs inside it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU wheel; on a GPU machine: make demo TORCH_SPEC="torch>=2.4"
TORCH_SPEC ?= torch==2.13.0

.PHONY: demo test lint bench clean sandbox

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

# The fix check (demo, evaluate) and the tests run Java code fedjava did not write inside bubblewrap
# (src/fedjava/javadata/sandbox.py); without it they refuse to run it.
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing bubblewrap, the sandbox fedjava runs untrusted Java code in"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -qq bubblewrap >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq bubblewrap; }; \
	  else \
	    echo "fedjava runs untrusted Java code inside bubblewrap, which is not installed: install it as root" \
	      "('apt-get install bubblewrap' on Debian/Ubuntu, 'dnf install bubblewrap' on Fedora) and run make again" >&2; \
	    exit 1; \
	  fi; }

# The main job on the built-in CPU model: data subsets, centralized + FedAvg/FedProx/FedAdam training,
# evaluation of each and the baselines, the comparison report (configs/experiments/demo_cpu.yaml).
demo: $(VENV)/.installed sandbox
	HF_HUB_OFFLINE=1 $(BIN)/fedjava experiment --preset demo_cpu

test: $(VENV)/.installed-dev sandbox
	$(BIN)/ruff check src tests
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

bench: $(VENV)/.installed
	$(BIN)/python -m fedjava.bench.train_speed

clean:
	rm -rf $(VENV) java_error_federated_results
