PYTHON ?= python3

.PHONY: install install-dev run test lint bench

install:
	$(PYTHON) -m pip install -q -e .

install-dev:
	$(PYTHON) -m pip install -q -e '.[dev]'

run: install
	whichwall plan

test: install-dev
	$(PYTHON) -m pytest -q

lint: install-dev
	ruff check planner udfs workbook whichwall tests
	mypy
