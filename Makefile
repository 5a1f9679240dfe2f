# warmstart: development tasks. `make help` lists them.
#
# Everything Python runs from the project venv (.venv), which `make venv`
# creates and keeps in step with requirements*.txt and pyproject.toml. Bazel's
# Python toolchain (tools/python) runs the same venv. `make test-latest` uses a
# second venv (.venv-latest: the newest TensorFlow, without Estimator).

SHELL := /bin/sh
.DEFAULT_GOAL := help

VENV := .venv
VENV_PY := $(VENV)/bin/python
# Touched after a successful install; older than any of its prerequisites means
# the venv is out of date and gets re-installed.
VENV_STAMP := $(VENV)/.warmstart-installed
# Interpreters tried in order when PYTHON is not given (TensorFlow 2.15 wheels
# exist for 3.9 to 3.11).
PYTHON_CANDIDATES := python3.11 python3.10 python3.9
# Checks that an interpreter really runs (pyenv shims exist for versions that
# are not active), is a supported version and can make a venv.
PYTHON_PROBE := import sys, ensurepip, venv; sys.exit(not (3, 9) <= sys.version_info[:2] < (3, 12))
PIP := $(VENV_PY) -m pip
# -qq: errors only (a machine's pip config may warn about every package).
PIP_FLAGS := -qq --disable-pip-version-check --no-input
# Extra arguments for pytest, e.g. `make test PYTEST_ARGS="-k plan -x"`.
PYTEST_ARGS :=
# Test processes (pytest-xdist), one test file per process at a time; 0 runs
# everything in one process (for -x, pdb, or reading one log in order).
PYTEST_JOBS := 2
PYTEST_PARALLEL = $(if $(filter 0,$(PYTEST_JOBS)),-p no:xdist,-n $(PYTEST_JOBS) --dist loadfile)
# TensorFlow's C++ log noise; `TF_CPP_MIN_LOG_LEVEL=0 make test` shows it all.
TF_ENV = TF_CPP_MIN_LOG_LEVEL=$${TF_CPP_MIN_LOG_LEVEL:-2}
# Programs run for a person (demo, bench) print nothing of TF's C++ logging:
# level 3 also hides the CUDA plugin registration errors TF 2.15 logs at
# import (E ... Unable to register cuDNN factory ...). Set
# TF_CPP_MIN_LOG_LEVEL to see them (`TF_CPP_MIN_LOG_LEVEL=0 make demo`).
TF_QUIET_ENV = TF_CPP_MIN_LOG_LEVEL=$${TF_CPP_MIN_LOG_LEVEL:-3}
# The docs (requirements-docs.txt pins MkDocs 1.x): no notice from Material
# about MkDocs 2.0, which is not installed.
DOCS_ENV = NO_MKDOCS_2_WARNING=1

# The newest TensorFlow (requirements-latest.txt), which ships no Estimator:
# the core on Python 3.12 or 3.13 (PYTHON_LATEST=/path/to/python3.x to choose).
VENV_LATEST := .venv-latest
VENV_LATEST_PY := $(VENV_LATEST)/bin/python
VENV_LATEST_STAMP := $(VENV_LATEST)/.warmstart-installed
PYENV_VERSIONS = $${PYENV_ROOT:-$$HOME/.pyenv}/versions
PYTHON_LATEST_CANDIDATES := python3.12 python3.13
PYTHON_LATEST_PROBE := import sys, ensurepip, venv; sys.exit(sys.version_info[:2] not in ((3, 12), (3, 13)))

.PHONY: help venv venv-latest test test-latest demo docs bazel-test bench bench-emb clean distclean

help:
	@echo "make venv        create/update $(VENV) (PYTHON=/path/to/python3.x to choose)"
	@echo "make test        run the whole pytest suite in $(VENV)"
	@echo "make test-latest run the tests that need no Estimator on TensorFlow 2.21 ($(VENV_LATEST))"
	@echo "make demo        run examples/transfer_learning.py"
	@echo "make docs        build the documentation site into build/site (mkdocs build --strict)"
	@echo "make bazel-test  run bazel test //... (Python from $(VENV))"
	@echo "make bench       run benchmarks/run.py"
	@echo "make bench-emb   the embedding scenarios (S4, S5, E-emb: bytes read, peak RSS)"
	@echo "make clean       remove caches, build outputs and bazel-* links (keeps $(VENV))"
	@echo "make distclean   clean, and also remove $(VENV), $(VENV_LATEST) and Bazel's output base"

venv: $(VENV_STAMP)

$(VENV_PY):
	@py="$(PYTHON)"; \
	if [ -n "$$py" ]; then \
	  if ! "$$py" -c '$(PYTHON_PROBE)' >/dev/null 2>&1; then \
	    echo "error: PYTHON=$$py is not a working Python 3.9, 3.10 or 3.11 with the venv module." >&2; \
	    exit 1; \
	  fi; \
	else \
	  for cand in $(PYTHON_CANDIDATES); do \
	    if command -v "$$cand" >/dev/null 2>&1 && "$$cand" -c '$(PYTHON_PROBE)' >/dev/null 2>&1; then \
	      py="$$cand"; break; \
	    fi; \
	  done; \
	fi; \
	if [ -z "$$py" ]; then \
	  echo "error: no usable Python found: tried $(PYTHON_CANDIDATES) on PATH." >&2; \
	  echo "  warmstart needs Python 3.9, 3.10 or 3.11 with the venv module (TensorFlow 2.15)." >&2; \
	  echo "  Install one, e.g. 'apt-get install python3.11 python3.11-venv' (Debian 12)" >&2; \
	  echo "  or 'pyenv install 3.11', or point at one: make venv PYTHON=/path/to/python3.11" >&2; \
	  exit 1; \
	fi; \
	echo "venv: creating $(VENV) with $$py ($$("$$py" -c 'import sys; print(sys.version.split()[0])'))"; \
	"$$py" -m venv $(VENV)

$(VENV_STAMP): $(VENV_PY) requirements.txt requirements-test.txt requirements-docs.txt pyproject.toml
	@echo "venv: installing requirements-test.txt, requirements-docs.txt and warmstart (editable) into $(VENV)"
	$(PIP) install $(PIP_FLAGS) -r requirements-test.txt -r requirements-docs.txt
	$(PIP) install $(PIP_FLAGS) --no-deps -e .
	@touch $@

test: venv
	$(TF_ENV) $(VENV_PY) -m pytest tests -q $(PYTEST_PARALLEL) $(PYTEST_ARGS)

venv-latest: $(VENV_LATEST_STAMP)

# Python 3.12 or 3.13: on PATH (pyenv shims of inactive versions do not run,
# the probe skips them), then pyenv's own installs.
$(VENV_LATEST_PY):
	@py="$(PYTHON_LATEST)"; \
	if [ -n "$$py" ]; then \
	  if ! "$$py" -c '$(PYTHON_LATEST_PROBE)' >/dev/null 2>&1; then \
	    echo "error: PYTHON_LATEST=$$py is not a working Python 3.12 or 3.13 with the venv module." >&2; \
	    exit 1; \
	  fi; \
	else \
	  for cand in $(PYTHON_LATEST_CANDIDATES) \
	      $(PYENV_VERSIONS)/3.12.*/bin/python3.12 $(PYENV_VERSIONS)/3.13.*/bin/python3.13; do \
	    if command -v "$$cand" >/dev/null 2>&1 && "$$cand" -c '$(PYTHON_LATEST_PROBE)' >/dev/null 2>&1; then \
	      py="$$cand"; break; \
	    fi; \
	  done; \
	fi; \
	if [ -z "$$py" ]; then \
	  echo "error: no usable Python 3.12 or 3.13 found: tried $(PYTHON_LATEST_CANDIDATES) on PATH" >&2; \
	  echo "  and $(PYENV_VERSIONS)/3.1[23].*/bin/python3.1[23]." >&2; \
	  echo "  make test-latest needs one with the venv module (TensorFlow 2.21 without Estimator)." >&2; \
	  echo "  Install one, e.g. 'apt-get install python3.12 python3.12-venv' (Ubuntu 24.04)," >&2; \
	  echo "  'apt-get install python3.13 python3.13-venv' (Debian 13) or 'pyenv install 3.12'," >&2; \
	  echo "  or point at one: make test-latest PYTHON_LATEST=/path/to/python3.12" >&2; \
	  exit 1; \
	fi; \
	echo "venv-latest: creating $(VENV_LATEST) with $$py ($$("$$py" -c 'import sys; print(sys.version.split()[0])'))"; \
	"$$py" -m venv $(VENV_LATEST)

# tf-keras requires the `tensorflow` distribution, a second copy of what
# tensorflow-cpu installs: its `#no-deps` line goes in without dependencies.
$(VENV_LATEST_STAMP): $(VENV_LATEST_PY) requirements-latest.txt pyproject.toml
	@echo "venv-latest: installing requirements-latest.txt and warmstart (editable) into $(VENV_LATEST)"
	$(VENV_LATEST_PY) -m pip install $(PIP_FLAGS) -r requirements-latest.txt
	$(VENV_LATEST_PY) -m pip install $(PIP_FLAGS) --no-deps $$(sed -n 's/^#no-deps //p' requirements-latest.txt)
	$(VENV_LATEST_PY) -m pip install $(PIP_FLAGS) --no-deps -e .
	@touch $@

# Every test module; those that need Estimator skip (tests/test_util.py).
test-latest: venv-latest
	$(TF_ENV) $(VENV_LATEST_PY) -m pytest tests -q -rs $(PYTEST_PARALLEL) $(PYTEST_ARGS)

demo: venv
	$(TF_QUIET_ENV) $(VENV_PY) examples/transfer_learning.py

# The site of docs/ (mkdocs.yml): every warning (a broken link or reference,
# a page missing from the nav) fails the build. Its code blocks run as tests
# (tests/docs_code_test.py, in make test).
docs: venv
	$(DOCS_ENV) $(VENV_PY) -m mkdocs build --strict

bazel-test: venv
	bazel test //...

bench: venv
	$(TF_QUIET_ENV) $(VENV_PY) benchmarks/run.py

# The embedding scenarios of issue 20 (bytes read, peak RSS; TF's vocabulary
# remaps take minutes per run at full size).
bench-emb: venv
	$(TF_QUIET_ENV) $(VENV_PY) benchmarks/run.py --scenarios=S4-1,S4-8,S5-1,S5-8,E-emb

clean:
	find . \( -path ./$(VENV) -o -path ./$(VENV_LATEST) \) -prune -o -type d \( -name __pycache__ -o -name .pytest_cache \) -exec rm -rf {} +
	rm -rf .pytest_cache build dist *.egg-info warmstart.egg-info
	find . -maxdepth 1 -type l -name 'bazel-*' -exec rm -f {} +

distclean: clean
	-command -v bazel >/dev/null 2>&1 && bazel clean --expunge
	rm -rf $(VENV) $(VENV_LATEST)
