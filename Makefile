# Bulwark — build, test, generate. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
CLANG ?= clang-19
STRIP ?= llvm-strip-19
BIN := bin
LDFLAGS := -s -w -X github.com/bulwark-security/bulwark/internal/version.Version=$(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
export CGO_ENABLED ?= 0

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  %-16s %s\n", $$1, $$2}'

.PHONY: deps
deps: ## Install the packages and Go tools the build and tests need
	./hack/install-deps.sh

.PHONY: build
build: ## Build bin/bulwark (CLI) and bin/bulwarkd (agent), static
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/bulwark ./cmd/bulwark
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/bulwarkd ./cmd/bulwarkd

.PHONY: test
test: ## Unit and host tests (as root: the monitor and probe tests use this host's kernel)
	$(GO) test -count=1 $$($(GO) list ./... | grep -v '/test/vm$$')

.PHONY: test-vm
test-vm: ## Kernel-lab tests in the Debian-kernel VM
	$(GO) test -count=1 -timeout 30m ./test/vm/...

.PHONY: vm-shell
vm-shell: ## Root shell in the kernel-lab VM (exit powers it off)
	$(GO) run ./test/vm/cmd/vmshell

.PHONY: bench
bench: ## Benchmarks
	$(GO) test -run '^$$' -bench . -benchmem ./...

.PHONY: lint
lint: ## go vet, staticcheck, gofmt, document links
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: files above need formatting'; exit 1; }
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	./hack/check-doc-links.sh

.PHONY: generate
generate: ## Regenerate deepcopy, CRDs, BPF objects, protobuf stubs
	$(GO) generate ./...

.PHONY: verify-generate
verify-generate: ## Regenerate and fail when the result differs from what is committed
	./hack/verify-generate.sh

.PHONY: demo
demo: ## The main job: bulwarkd in host mode on examples/host, real alerts from real actions (root, Go)
	./hack/demo.sh
	@echo; echo '== what the policies mean for an operation the demo did not perform: cat opens /etc/shadow for writing'
	@bin/bulwark policy explain -f examples/host --host --op file --path /etc/shadow --write --source /usr/bin/cat

.PHONY: ci
ci: deps lint verify-generate build test test-vm ## Everything CI runs (the README's test command)
