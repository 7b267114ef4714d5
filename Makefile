# Entry points: `make demo` bootstraps Package Operator from a local mirror
# on a local control plane; `make test` runs every test. Both install what
# they need first (Debian packages, a Python venv, kubernetes.core).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= $(CURDIR)/.venv
CACHE ?= $(CURDIR)/.cache
COLLECTIONS_DIR := $(CACHE)/collections
VENV_PYTHON := $(VENV)/bin/python

export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS_DIR)
GO_VERSION := 1.26.8
# hack/install-go.sh unpacks a Go toolchain here when the machine has none
# that is new enough.
export PATH := $(VENV)/bin:$(CACHE)/toolchains/go$(GO_VERSION)/bin:$(PATH)
# No Galaxy server is reachable; a stray Galaxy call fails at once, not after a timeout.
export ANSIBLE_GALAXY_SERVER := http://127.0.0.1:9/

.PHONY: help
help:
	@echo "make demo   bootstrap Package Operator from a local mirror, then clean up"
	@echo "make test   run unit, system and Ansible integration tests"
	@echo "make deps   install Debian packages, the Python venv and kubernetes.core"

.PHONY: deps system-packages venv collections
deps: system-packages venv collections

system-packages:
	hack/install-system-packages.sh

venv: $(VENV)/.installed
$(VENV)/.installed: requirements/runtime.txt requirements/test.txt requirements/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV_PYTHON) -m pip install --quiet --upgrade pip
	$(VENV_PYTHON) -m pip install --quiet -c requirements/constraints.txt -r requirements/test.txt
	touch $@

# kubernetes.core comes from the `ansible` wheel on PyPI; this collection is
# linked in beside it so that playbooks find pko.airgap from the checkout.
collections: venv
	hack/fetch-kubernetes-core.sh $(VENV_PYTHON) $(COLLECTIONS_DIR)
	mkdir -p $(COLLECTIONS_DIR)/ansible_collections/pko
	ln -sfn $(CURDIR) $(COLLECTIONS_DIR)/ansible_collections/pko/airgap

# kube-apiserver and etcd built from pinned Go modules; the first build
# takes 10-15 minutes on 2 cores, later runs reuse the cached binaries.
.PHONY: controlplane
controlplane:
	hack/install-go.sh $(CACHE)/toolchains >/dev/null
	hack/build-controlplane.sh >/dev/null

.PHONY: demo
demo: deps controlplane
	hack/demo.sh

.PHONY: test
test: deps controlplane
	hack/run-tests.sh

.PHONY: unit
unit: deps
	$(VENV_PYTHON) -m pytest -q tests/unit
