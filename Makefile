# The fact-check annotation dataset builder. `make` (or `make help`) lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
LS_VENV := .venv-labelstudio
PY := $(VENV)/bin/python
LABEL_STUDIO_VERSION := 1.23.2
GUNICORN_VERSION := 27.0.1
RUN := $(PY) -m builder

.PHONY: help install labelstudio labelstudio-stop stories sync pull suggest stance adjudicate dataset status demo test format bench clean

## help: list the targets (the default)
help:
	@echo "Targets:"
	@awk '/^## /{sub(/^## /, ""); n = index($$0, ":"); printf "  %-17s %s\n", substr($$0, 1, n - 1), substr($$0, n + 2)}' $(MAKEFILE_LIST)

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -qq --disable-pip-version-check -e '.[dev,bench]'
	@touch $@

$(LS_VENV)/.installed:
	@test -x $(LS_VENV)/bin/python || $(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install -qq --disable-pip-version-check 'label-studio==$(LABEL_STUDIO_VERSION)'
	@touch $@

# gunicorn serves Label Studio with several worker processes (LABEL_STUDIO_WORKERS), as a team does.
$(LS_VENV)/.gunicorn: $(LS_VENV)/.installed
	$(LS_VENV)/bin/python -m pip install -qq --disable-pip-version-check 'gunicorn==$(GUNICORN_VERSION)'
	@touch $@

## install: create the project's venv and, apart, Label Studio's (idempotent)
install: $(VENV)/.installed $(LS_VENV)/.installed $(LS_VENV)/.gunicorn

## labelstudio: start a local Label Studio (127.0.0.1; SQLite, or LABEL_STUDIO_DATABASE=postgresql://…)
labelstudio: install
	@$(RUN) labelstudio start

## labelstudio-stop: stop the local Label Studio
labelstudio-stop: install
	@$(RUN) labelstudio stop

## stories: list raw/'s stories: size, dates, outlets, top terms, least sure joins (ARGS=--jsonl)
stories: install
	@$(RUN) stories $(ARGS)

## sync: split raw/ into sentences and import the new ones as claim tasks (ARGS=--repair: remove unannotated duplicates)
sync: install
	@$(RUN) sync $(ARGS)

## pull: export, save verbatim, validate the annotations (ARGS: --full every task; --suggest; --allow-shrink)
pull: install
	@$(RUN) pull $(ARGS)

## suggest: train a model on the labels so far; label the tasks it is least sure of first
suggest: install
	@$(RUN) suggest $(ARGS)

## stance: pair check-worthy claims with other outlets' sentences; sync the stance project
stance: install
	@$(RUN) stance $(ARGS)

## status: tasks, labeled, annotators and their competence, rejects, unresolved (JSON: ARGS=--json)
status: install
	@$(RUN) status $(ARGS)

## adjudicate: send ties and low posteriors (and, with ARGS=--min-agreement 0.75, weak items) to adjudication
adjudicate: install
	@$(RUN) adjudicate $(ARGS)

## dataset: build the Hugging Face dataset in exports/<DATASET_NAME> (ARGS=--accept-imbalance: even off TEST_SIZE)
dataset: install
	@$(RUN) dataset $(ARGS)

## demo: everything on the sample corpus: server, sync, example annotations, pull, dataset
demo: install
	@$(RUN) labelstudio start
	@$(RUN) sync --no-progress
	@$(RUN) demo-annotations
	@$(RUN) pull
	@$(RUN) stance --no-progress
	@$(RUN) demo-annotations
	@$(RUN) pull
	@$(RUN) adjudicate
	@$(RUN) demo-annotations
	@$(RUN) pull
	@$(RUN) dataset --accept-imbalance
	@$(RUN) status
	@$(RUN) demo-summary

## test: lint, format check, schema check and the whole test suite (starts its own server)
test: install
	$(VENV)/bin/ruff check builder tests bench
	$(VENV)/bin/ruff format --check builder tests bench
	$(RUN) schemas --check
	$(PY) -m pytest -q

## format: fix lint and format the code in place (ruff)
format: install
	$(VENV)/bin/ruff check --fix builder tests bench
	$(VENV)/bin/ruff format builder tests bench

## bench: the benchmarks (not part of test); prints its figures
bench: install
	$(PY) -m bench

## clean: remove the venvs and the local state (never exports/ or the server's data)
clean:
	rm -rf $(VENV) $(LS_VENV) .builder .pytest_cache .ruff_cache
