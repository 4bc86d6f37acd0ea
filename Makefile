# DLLab developer tasks. `make` (or `make help`) lists them.

SHELL       := /bin/bash
PYTHON      ?= python3
VENV        := .venv
STAMP       := $(VENV)/.dllab-installed
BASE_TAG    ?= dllab/base:bookworm
PYTEST_ARGS ?=
# make images FORCE=1  rebuilds images that already exist.
FORCE       ?=
# extra `pip install` options for make venv (.ci/run: --no-compile, an offline wheel cache)
PIP_INSTALL_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help venv run test lint images bench ci-services clean

help: ## list the targets
	@echo "usage: make TARGET   (variables: PYTEST_ARGS='-k x', FORCE=1, PYTHON=python3.11, PIP_INSTALL_ARGS=...)"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

venv: $(STAMP) ## create .venv and pip install -e '.[test]' (again only when pyproject.toml changes)

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --disable-pip-version-check $(PIP_INSTALL_ARGS) -e '.[test]'
	touch $@

run: venv ## start DLLab locally: edge proxy, control plane, JupyterHub, agent (console on http://127.0.0.1:8080)
	$(VENV)/bin/dllab up

test: venv ## run the test suite (extra pytest arguments: PYTEST_ARGS='...')
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: venv ## ruff check (and shellcheck of the shell scripts when installed)
	$(VENV)/bin/ruff check .
	@if command -v shellcheck >/dev/null; then \
		echo "shellcheck .ci/run .ci/services.sh images/*/build.sh"; \
		shellcheck .ci/run .ci/services.sh images/*/build.sh; \
	else echo "shellcheck not installed: shell scripts not checked"; fi

images: ## build the local container images (dllab/base:bookworm, dllab/runtime:tf-cpu); skips existing ones unless FORCE=1
	images/base/build.sh $(if $(FORCE),--force) $(BASE_TAG)
	images/runtime/build.sh $(if $(FORCE),--force)

bench: venv ## run the benchmarks (print their figures; dispatch needs Redis on 127.0.0.1:6379, env_start the images)
	$(VENV)/bin/python benchmarks/dispatch.py
	$(VENV)/bin/python benchmarks/scheduler.py
	$(VENV)/bin/python benchmarks/env_start.py
	$(VENV)/bin/python benchmarks/job_start.py
	$(VENV)/bin/python benchmarks/serving.py
	$(VENV)/bin/python benchmarks/monitoring.py

ci-services: ## install (if missing) and start redis, postgres, dockerd, chromium as CI does (root)
	.ci/services.sh

clean: ## remove caches and build leftovers (keeps .venv and .dllab)
	rm -rf .pytest_cache .ruff_cache .hypothesis build dist *.egg-info
	find . -path ./.venv -prune -o -name __pycache__ -type d -exec rm -rf {} +
