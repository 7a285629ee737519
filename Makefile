# flyt — see README.md. `make help` lists the targets.
SHELL := /usr/bin/env bash
GO ?= go
GO_TEST_ARGS ?= -race -count=1
# The control plane lives in a cache outside the repository; hack/controlplane.sh prints its folder.
CONTROLPLANE_DIR = $(shell hack/controlplane.sh)
# Dex, the OpenID provider the tests log in through, is cached the same way; hack/dex.sh prints it.
DEX = $(shell hack/dex.sh)
# Real NAIS team repositories, kept beside the repository (not in it) by the team and CI; the
# tests over them say in one line that they are left out when the folder is not there.
FLYT_NAIS_TESTDATA ?= $(wildcard $(CURDIR)/../shared/testdata/nais)
export FLYT_NAIS_TESTDATA

.DEFAULT_GOAL := help

help: ## List the targets
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build bin/flyt
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/flyt ./cmd/flyt

controlplane: ## Build (or find in the cache) kube-apiserver, kcm, scheduler, etcd and kwok
	@hack/controlplane.sh

cluster: controlplane ## Run a local control plane with simulated nodes in the foreground (Ctrl-C stops it)
	FLYT_CONTROLPLANE_DIR=$(CONTROLPLANE_DIR) $(GO) run ./cmd/localcluster

fmt: ## Format the code
	gofmt -w $$(git ls-files '*.go')

vet: ## Run go vet
	$(GO) vet ./...

lint: ## golangci-lint with flyt's linters (.golangci.yml; pinned in hack/tools/go.mod)
	$(GO) tool -modfile=hack/tools/go.mod golangci-lint run ./...

dex: ## Build (or find in the cache) Dex, the OpenID provider of the tests
	@hack/dex.sh

test: controlplane dex ## Run the whole test suite (go vet, then go test -race) on the local control plane
	$(GO) vet ./...
	FLYT_CONTROLPLANE_DIR=$(CONTROLPLANE_DIR) FLYT_DEX=$(DEX) hack/test.sh $(GO_TEST_ARGS) -timeout 25m ./...

FUZZTIME ?= 30s
fuzz: ## Run every fuzz target for FUZZTIME (30s), then list all that failed
	GO=$(GO) FUZZTIME=$(FUZZTIME) hack/fuzz.sh

bench: controlplane ## Run the benchmarks and write a report under bench/results/
	FLYT_CONTROLPLANE_DIR=$(CONTROLPLANE_DIR) hack/bench.sh

demo: controlplane ## Run flyt's main job on two local control planes (dev, prod); Ctrl-C stops it
	FLYT_CONTROLPLANE_DIR=$(CONTROLPLANE_DIR) $(GO) run ./cmd/demo

verify: ## Fail if formatting or go.mod are not clean
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "run make fmt"; exit 1)
	@$(GO) mod verify

image: ## Build the container image (needs a Docker engine)
	docker build -t flyt:dev .

.PHONY: help build controlplane dex cluster fmt vet lint test fuzz bench demo verify image
