# Data Plane Aggregator. `make run` and `make test` are the two commands a user needs.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO      ?= go
# Pure-Go build: kine then uses the pure-Go SQLite driver (no C toolchain needed).
export CGO_ENABLED ?= 0
# One set of build flags for every go command — build, vet, test, and the binaries the tests
# build — so each package is compiled once and then shared through the build cache.
GOFLAGS ?= -trimpath
export GOFLAGS

VERSION := v$(shell cat VERSION)
COMMIT  := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X github.com/dataplane-aggregator/dpa/pkg/version.Version=$(VERSION) \
           -X github.com/dataplane-aggregator/dpa/pkg/version.GitCommit=$(COMMIT)
DATA_DIR ?= ./data
PORT     ?= 6443
GENERATED := pkg/apis pkg/generated plugin/src/generated plugin/src/api/endpoints.gen.ts

.PHONY: all generate generate-check build examples ui plugin run test test-go test-fuzz fuzz test-ui test-ui-e2e lint soak bench bench-api kube-bins helm-bin helm-lint image image-tar clean

all: build

## generate: regenerate Go types, clients, CRD/manifest JSON and TypeScript types from kinds/
generate:
	$(GO) tool -modfile=tools/go.mod grafana-app-sdk generate -s kinds
	$(GO) run ./pkg/routes/internal/gents plugin/src/api/endpoints.gen.ts

## generate-check: fail when the generated tree is not what `make generate` produces
generate-check: generate
	@if [ -n "$$(git status --porcelain -- $(GENERATED))" ]; then \
	  echo "generated code is out of date: run 'make generate' and commit:"; \
	  git status --porcelain -- $(GENERATED); git diff --stat -- $(GENERATED); exit 1; fi

## build: bin/dpa (embeds the standalone UI when pkg/ui/dist holds a built bundle)
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/dpa ./cmd/dpa

## examples: the example backend plugins in Grafana's layout
examples:
	$(MAKE) -C examples/plugins GO=$(GO)

## ui: the standalone UI bundle into pkg/ui/dist (served by dpa at /ui/)
ui:
	SKIP_NPM_CI=$${SKIP_NPM_CI:-} plugin/scripts/build-ui.sh

## plugin: the Grafana app plugin: plugin/dist and dataplane-aggregator-app-<version>.zip
plugin:
	plugin/scripts/package.sh $(shell cat VERSION)

## run: dpa with the embedded store, the example plugins, provisioning and objects
run: ui build examples
	DATA_DIR=$(DATA_DIR) PORT=$(PORT) scripts/run.sh

# Go packages of this module; npm puts Go code of its own under plugin/node_modules.
GO_PKGS = $(shell $(GO) list ./... | grep -v /node_modules/)

## lint: gofmt and go vet (the compat example plugin is a module of its own)
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(GO_PKGS)
	cd examples/plugins/compat && $(GO) vet ./...

## test: everything CI runs. ui comes before test-go: make builds bin/dpa once per run (for
## test-go), and the UI test needs the bundle embedded in it.
test: lint generate-check plugin ui test-go test-fuzz test-ui test-ui-e2e

# The end-to-end tests check the packaged app plugin (plugin/dist, built by `make plugin`)
# and run bin/dpa, the binary `make build` made (and the UI test uses), instead of their own.
# -race needs cgo (test binaries only: bin/dpa stays a pure-Go build); -shuffle=on runs the
# tests of each package in a random order (the seed is printed), so none may depend on another.
test-go: build kube-bins helm-bin
	DPA_BIN=$(CURDIR)/bin/dpa CGO_ENABLED=1 $(GO) test -race -shuffle=on -count=1 -timeout 60m $(GO_PKGS)

# Go native fuzz targets (package:Target). Every `go test` runs their seed corpora (f.Add and
# testdata/fuzz/<Target>); test-fuzz fuzzes each for FUZZTIME, `make fuzz` for FUZZLONG.
FUZZ_TARGETS := ./pkg/dataplane:FuzzMatch ./pkg/dataplane:FuzzQueryBody ./pkg/dataplane:FuzzAdmissionBody \
	./pkg/dataplane:FuzzConversionBody ./pkg/dataplane:FuzzRelativeTime ./pkg/routes:FuzzParsePath ./pkg/provisioning:FuzzLoad
# A count, not a time, in make test: on a loaded machine a time limit can end while a fuzz
# worker is still busy, and `go test -fuzz` then fails with "context deadline exceeded"
# (seen in a CI-like run) although nothing was found.
FUZZTIME ?= 20000x
FUZZLONG ?= 2m

## test-fuzz: each fuzz target for FUZZTIME (executions, or a duration); new failing inputs land in testdata/fuzz
test-fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
	  echo "fuzz $${t#*:} ($(FUZZTIME))"; \
	  $(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) -parallel 2 $${t%%:*}; \
	done

## fuzz: each fuzz target for FUZZLONG
fuzz:
	$(MAKE) test-fuzz FUZZTIME=$(FUZZLONG)

# npm install, not npm ci: the lock pins every version, but this registry lacks other
# platforms' optional binaries (e.g. @swc/core-darwin-*), which npm ci insists on.
test-ui:
	cd plugin && (test -d node_modules || npm install --no-audit --no-fund) && npm run typecheck && CI=true npm test

## test-ui-e2e: the UI in real headless Chromium against a real dpa
test-ui-e2e: ui build examples
	scripts/ui-e2e.sh

## soak: mixed load with plugin crashes and a dpa restart; SOAK_DURATION (default 2m)
SOAK_DURATION ?= 2m
soak: build examples
	$(GO) build -o bin/soak ./test/soak && bin/soak -dpa bin/dpa -plugins examples/plugins -provisioning examples/provisioning -duration $(SOAK_DURATION)

## bench: data-plane overhead against direct gRPC, route lookup, apply-to-live latency, the
## scale section (1 vs 10,000 datasources/services end to end, reloads), and bench-api first
bench: bench-api
	scripts/bench.sh

## bench-api: the resource API with 10,000 DataPlaneServices — create/get p50, list, kubectl get
## dps, restart to /readyz with peak RSS — beside a real kube-apiserver's restart on 10,000
## objects of the same CRD (the anchor; make kube-bins builds it)
bench-api: build kube-bins
	$(GO) run ./test/apibench -dpa bin/dpa -n 10000 -kube-apiserver bin/kube-apiserver -etcd bin/etcd

## kube-bins: a real kube-apiserver v1.35.4 and etcd 3.6 into bin/ for the end-to-end tests. They
## come from test/kube, a module of its own (the main go.mod stays free of k8s.io/kubernetes).
kube-bins:
	cd test/kube && $(GO) build -ldflags "-X k8s.io/component-base/version.gitVersion=v1.35.4 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=35" -o $(CURDIR)/bin/ ./cmd/kube-apiserver ./cmd/etcd

IMAGE ?= dataplane-aggregator/dpa

## image: the container image with docker build (the Dockerfile; needs a container engine)
image:
	docker build --build-arg VERSION=$(VERSION) --build-arg REVISION=$(COMMIT) -t $(IMAGE):$(VERSION) .

## image-tar: the same image without a container engine: bin/dpa-image.tar (docker load -i, crane push)
image-tar: ui build
	$(GO) run ./cmd/dpa-image -binary bin/dpa -o bin/dpa-image.tar -tag $(IMAGE):$(VERSION) \
	  -version $(VERSION) -revision $(COMMIT)

## helm-bin: Helm v4 into bin/helm, pinned in tools/helm (the chart tests render and lint with it)
helm-bin:
	cd tools/helm && $(GO) build -o $(CURDIR)/bin/helm helm.sh/helm/v4/cmd/helm

## helm-lint: lint deploy/helm/dpa with its default values and each ci/ values file
helm-lint: helm-bin
	bin/helm lint --strict deploy/helm/dpa
	@for f in deploy/helm/dpa/ci/*-values.yaml; do bin/helm lint --strict deploy/helm/dpa -f $$f; done

clean:
	rm -rf bin plugin/dist test-output
