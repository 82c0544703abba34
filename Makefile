# Everything runs from a project virtual environment, .venv, made on first use with the first python3 on PATH
# (Debian's /usr/bin/python3 refuses `pip install` outside one: PEP 668, "externally-managed-environment").
# Installs are remembered by stamp files in .venv, redone only when pyproject.toml changes (the packages are installed
# editable, so code changes need no reinstall). Another interpreter: `make PYTHON=python3.12 test`; start over:
# `make clean-venv`.

PYTHON ?= python3
VENV ?= .venv
VENV_PY := $(VENV)/bin/python
# -n auto: one pytest-xdist worker per core (at most 8); worksteal rebalances the slow LibreOffice and fuzz tests.
PYTEST_ARGS ?= -n auto --maxprocesses=8 --dist worksteal --durations=5

.PHONY: venv install install-dev run test lint bench clean-venv

venv: $(VENV)/.made

# Reuses a working .venv as it is; otherwise (none, or a broken one: its Python gone, no pip) makes it anew. The
# stamp depends on the venv's Python, so a venv whose Python has gone (or was upgraded) is checked again.
$(VENV_PY): ;

$(VENV)/.made: $(VENV_PY)
	@command -v $(PYTHON) >/dev/null 2>&1 || { \
	  echo "make: no '$(PYTHON)' on PATH; install Python >= 3.10 (Debian: apt-get install python3 python3-venv)," \
	       "or name one: make PYTHON=/path/to/python3 ..." >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { \
	  echo "make: whichwall needs Python >= 3.10, but $(PYTHON) is $$($(PYTHON) -V 2>&1); name another:" \
	       "make PYTHON=python3.11 ..." >&2; exit 1; }
	@if $(VENV_PY) -c 'import pip' >/dev/null 2>&1; then \
	  echo "using the existing virtual environment $(VENV) ($$($(VENV_PY) -V))"; \
	else \
	  rm -rf $(VENV); \
	  if $(PYTHON) -c 'import ensurepip, venv' >/dev/null 2>&1; then \
	    echo "creating the virtual environment $(VENV) with $$(command -v $(PYTHON)) ($$($(PYTHON) -V 2>&1))"; \
	    $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); exit 1; }; \
	  elif $(PYTHON) -m virtualenv --version >/dev/null 2>&1; then \
	    echo "creating the virtual environment $(VENV) with $(PYTHON) -m virtualenv"; \
	    $(PYTHON) -m virtualenv -q -p $(PYTHON) $(VENV) || { rm -rf $(VENV); exit 1; }; \
	  elif command -v virtualenv >/dev/null 2>&1; then \
	    echo "creating the virtual environment $(VENV) with virtualenv"; \
	    virtualenv -q -p $(PYTHON) $(VENV) || { rm -rf $(VENV); exit 1; }; \
	  else \
	    echo "make: $(PYTHON) cannot create a virtual environment (no venv/ensurepip module); on Debian/Ubuntu run:" \
	         "sudo apt-get install python3-venv   (then make again)" >&2; \
	    exit 1; \
	  fi; \
	fi
	@touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.made
	@echo "installing whichwall into $(VENV) (the first time takes a minute or two)"
	$(VENV_PY) -m pip install -q --disable-pip-version-check -e .
	@touch $@

# The dev extra includes everything `install` does, so it stamps both.
$(VENV)/.installed-dev: pyproject.toml $(VENV)/.made
	@echo "installing whichwall and its test tools into $(VENV) (the first time takes a few minutes)"
	$(VENV_PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

run: install
	$(VENV)/bin/whichwall plan

test: install-dev
	$(VENV_PY) -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check planner udfs workbook whichwall tests
	$(VENV)/bin/mypy

clean-venv:
	rm -rf $(VENV)
