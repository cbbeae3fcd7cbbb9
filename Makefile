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

.PHONY: help venv demo study test sync nbtest pytest export nbs outputs lab bench
help:
	@echo "make demo    run every research line on the embedded default data (lmr demo), then the site"
	@echo "make study   the CPU study of every research line (lmr study; up to ~45 min a line on 2 cores)"
	@echo "make test    every test: notebooks/library sync check, nbdev_test, pytest"
	@echo "make venv    create or update .venv (both commands above do it first)"
	@echo "make export  notebooks -> library (nbdev_export), nbdev_clean, the kernelspec: run after editing a notebook"
	@echo "make nbs     re-execute library notebooks in place, keeping real outputs (NB=nbs/00_core.ipynb for one)"
	@echo "make outputs the smoke batch and the demo (done jobs are skipped), then one job's outputs kept in each"
	@echo "             experiment notebook in nbs/experiments, so a reader sees what it produces"
	@echo "make lab     JupyterLab on nbs/ with the project's kernel"
	@echo "make bench   every benchmark in benchmarks/ (minutes; results in benchmarks/results/)"
	@echo "make sync | nbtest | pytest   the three parts of make test, one at a time"

venv: $(STAMP)
$(STAMP): settings.ini setup.py constraints.txt requirements-assets.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -c constraints.txt -e '.[dev]'
	$(PIP) install --no-deps -r requirements-assets.txt
	@touch $(STAMP)

demo: venv
	$(BIN)/lmr demo

study: venv
	$(BIN)/lmr study

test: venv sync nbtest pytest

# Notebooks are the source: exporting and cleaning them must change nothing.
sync: venv
	$(BIN)/python tools/check_sync.py

nbtest: venv
	$(BIN)/nbdev_test --n_workers 2 --do_print

pytest: venv
	$(BIN)/python -m pytest -q tests

export: venv
	$(BIN)/nbdev_export && $(BIN)/nbdev_clean && $(BIN)/python tools/kernelspec.py

# Re-execute library notebooks in place, keeping their real outputs (NB=nbs/00_core.ipynb for one): execnb's exec_nb,
# run from nbs/ as nbdev_test runs them; the first error stops and leaves that notebook as it was. Then nbdev_clean.
NBS = $(patsubst nbs/%,%,$(or $(NB),$(wildcard nbs/[0-9]*.ipynb)))
nbs: venv
	@cd nbs && for nb in $(NBS); do \
	  echo "== $$nb"; ../$(BIN)/exec_nb $$nb --dest $$nb --exc_stop || exit 1; ../$(BIN)/nbdev_clean --fname $$nb; \
	done

# Experiment notebooks keep the real outputs of one demo job (a job that ran another version is refused).
outputs: venv
	$(BIN)/lmr demo --smoke --keep-outputs
	$(BIN)/lmr demo --keep-outputs
	$(BIN)/nbdev_clean

lab: venv
	$(BIN)/python -c "from lmresearch.batch import ensure_kernel; ensure_kernel()"
	$(BIN)/jupyter lab --notebook-dir=nbs

bench: venv
	@for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done
