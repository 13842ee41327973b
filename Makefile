# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint install bench-setup clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Extra tools of the benchmarks (requests for the sequential baseline, pyinstrument).
bench-setup: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

# Two test processes: most tests wait on sockets, subprocesses and the emulator's latency, so
# two share the CI machine's two cores well (Slurm tests stay together in one: loadgroup).
test: $(STAMP) lint
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

demo: $(STAMP)
	$(BIN)/tiktok-network demo

clean:
	rm -rf $(VENV) demo-outputs .pytest_cache
