# examflow: `make run` starts the whole stack, `make test` runs every test.
# Tools are built from the Go module proxy at pinned versions into .tools/
# (ignored) the first time and reused afterwards.

SHELL := /bin/bash
GO ?= go
TOOLS_BIN := $(CURDIR)/.tools/bin

TEMPORAL_VERSION    := v1.5.1
# MinIO publishes no semantic versions; this is its final open-source commit.
MINIO_VERSION       := v0.0.0-20260212201848-7aac2a2c5b7c
STATICCHECK_VERSION := v0.8.2
# Temporal's static check that workflow code stays deterministic.
WORKFLOWCHECK_VERSION := v0.6.0
# Temporal Server and its SQL tool for the cluster-shaped stack (make
# test-cluster); docker-compose.yml runs the server image of the same version.
TEMPORAL_SERVER_VERSION := v1.30.4
# The Temporal UI server, with the UI's assets embedded, for the cluster stack.
UI_SERVER_VERSION := v2.42.1

TEMPORAL    := $(TOOLS_BIN)/.temporal-$(TEMPORAL_VERSION)
MINIO       := $(TOOLS_BIN)/.minio-$(MINIO_VERSION)
STATICCHECK := $(TOOLS_BIN)/.staticcheck-$(STATICCHECK_VERSION)
WORKFLOWCHECK := $(TOOLS_BIN)/.workflowcheck-$(WORKFLOWCHECK_VERSION)
TEMPORAL_SERVER := $(TOOLS_BIN)/.temporal-server-$(TEMPORAL_SERVER_VERSION)
UI_SERVER := $(TOOLS_BIN)/.temporal-ui-server-$(UI_SERVER_VERSION)

export EXAMFLOW_TOOLS_DIR := $(TOOLS_BIN)
# Through make, the end-to-end tests fail when a tool is missing; a bare
# `go test ./...` skips them with the reason.
export EXAMFLOW_E2E_REQUIRE := 1

.PHONY: run test test-cluster tools-cluster demo build tools postgres chromium lint unit integration clean-dev help drills bench histories

help:
	@echo "make run     start PostgreSQL, MinIO, Temporal (UI :8233), worker and API (:8080)"
	@echo "make test    lint, unit and integration tests on a stack of their own"
	@echo "make demo    register fictional candidates on the running stack"
	@echo "make tools   build the pinned Temporal CLI, MinIO, staticcheck and workflowcheck into .tools/"
	@echo "make test-cluster  the end-to-end tests on Temporal Server (PostgreSQL, TLS) with two worker and two API processes"
	@echo "make drills  failure drills: 200 lifecycles through worker kills and restarts (STACK=cluster: on Temporal Server with replicas)"
	@echo "make bench   benchmarks against same-run baselines, written to docs/benchmarks.md (STACK=cluster: on Temporal Server)"
	@echo "make histories  re-record the workflow histories the replay tests replay (workflows/testdata/histories)"
	@echo "make fuzz    run each fuzz target for FUZZTIME executions (default 20000x)"

run: build tools postgres
	./bin/examflow dev

demo: build
	./bin/examflow demo

build:
	$(GO) build -o bin/examflow ./cmd/examflow

tools: $(TEMPORAL) $(MINIO) $(STATICCHECK) $(WORKFLOWCHECK)

# The cluster-shaped stack's tools: temporal-server, temporal-sql-tool and
# the server's SQL schemas (from the module the binaries are built from),
# and the Temporal UI server.
tools-cluster: $(TEMPORAL_SERVER) $(UI_SERVER)

$(UI_SERVER):
	@mkdir -p $(TOOLS_BIN)/.build-ui
	@echo "Building the Temporal UI server $(UI_SERVER_VERSION) (first time only) ..."
	GOBIN=$(TOOLS_BIN)/.build-ui $(GO) install github.com/temporalio/ui-server/v2/cmd/server@$(UI_SERVER_VERSION)
	mv $(TOOLS_BIN)/.build-ui/server $(TOOLS_BIN)/temporal-ui-server
	@touch $@

$(TEMPORAL_SERVER):
	@mkdir -p $(TOOLS_BIN)/.build
	@echo "Building Temporal Server $(TEMPORAL_SERVER_VERSION) and temporal-sql-tool (first time only, several minutes) ..."
	GOBIN=$(TOOLS_BIN)/.build $(GO) install go.temporal.io/server/cmd/server@$(TEMPORAL_SERVER_VERSION)
	GOBIN=$(TOOLS_BIN)/.build $(GO) install go.temporal.io/server/cmd/tools/sql@$(TEMPORAL_SERVER_VERSION)
	mv $(TOOLS_BIN)/.build/server $(TOOLS_BIN)/temporal-server
	mv $(TOOLS_BIN)/.build/sql $(TOOLS_BIN)/temporal-sql-tool
	rm -rf $(TOOLS_BIN)/temporal-schema
	cp -r "$$($(GO) env GOMODCACHE)/go.temporal.io/server@$(TEMPORAL_SERVER_VERSION)/schema" $(TOOLS_BIN)/temporal-schema
	chmod -R u+w $(TOOLS_BIN)/temporal-schema
	@touch $@

$(TEMPORAL):
	@mkdir -p $(TOOLS_BIN)
	@echo "Building the Temporal CLI $(TEMPORAL_VERSION) (first time only, several minutes) ..."
	GOBIN=$(TOOLS_BIN) $(GO) install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_VERSION)
	@touch $@

$(MINIO):
	@mkdir -p $(TOOLS_BIN)
	@echo "Building MinIO $(MINIO_VERSION) (first time only, several minutes) ..."
	GOBIN=$(TOOLS_BIN) $(GO) install github.com/minio/minio@$(MINIO_VERSION)
	@touch $@

$(STATICCHECK):
	@mkdir -p $(TOOLS_BIN)
	GOBIN=$(TOOLS_BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@touch $@

$(WORKFLOWCHECK):
	@mkdir -p $(TOOLS_BIN)
	GOBIN=$(TOOLS_BIN) $(GO) install go.temporal.io/sdk/contrib/tools/workflowcheck@$(WORKFLOWCHECK_VERSION)
	@touch $@

postgres:
	@deploy/ensure-postgres.sh

# Headless Chromium for the end-to-end test of the Temporal UI
# (e2e/ui_browser_test.go).
chromium:
	@deploy/ensure-chromium.sh

lint: $(STATICCHECK) $(WORKFLOWCHECK)
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(TOOLS_BIN)/staticcheck ./...
	$(TOOLS_BIN)/workflowcheck ./...

unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /e2e)

integration: tools postgres chromium
	$(GO) test -count=1 -timeout 20m ./e2e/...

test: tools postgres chromium lint
	$(GO) test -count=1 -timeout 30m ./...

# The end-to-end tests that touch Temporal, on a cluster-shaped stack:
# Temporal Server on PostgreSQL with SQL visibility and a TLS frontend, two
# worker processes and two API processes (e2e/main_test.go, cluster mode).
CLUSTER_TESTS ?= .
test-cluster: tools tools-cluster postgres chromium
	EXAMFLOW_E2E_STACK=cluster $(GO) test -count=1 -timeout 40m -run '$(CLUSTER_TESTS)' ./e2e/

# Failure drills: 200 lifecycles while the worker is killed and Temporal,
# MinIO and PostgreSQL are restarted (make test runs a short form).
# STACK=cluster runs them on the cluster-shaped stack: two workers, one of
# them killed at random, and two API processes, one killed while the
# clients fail over to the other.
DRILL_LIFECYCLES ?= 200
STACK ?= dev
drills: tools postgres $(if $(filter cluster,$(STACK)),tools-cluster)
	set -o pipefail; EXAMFLOW_E2E_STACK=$(STACK) EXAMFLOW_DRILL_LIFECYCLES=$(DRILL_LIFECYCLES) $(GO) test -count=1 -timeout 60m -run TestFailureDrills -v ./e2e/ | grep -E 'drill|^(--- |ok|FAIL|PASS)'

# Benchmarks: five figures, each a ratio against a baseline measured in the
# same run, on a stack of their own; rewrites docs/benchmarks.md (both
# stacks' latest figures, kept in docs/benchmarks.json). STACK=dev (the
# default) measures on the Temporal dev server, STACK=cluster on Temporal
# Server on PostgreSQL with a TLS frontend. Not part of make test (it takes
# minutes).
BENCH_N ?= 200
BENCH_M ?= 200
BENCH_K ?= 100
BENCH_CONCURRENCY ?= 8
bench: $(TEMPORAL) $(MINIO) postgres $(if $(filter cluster,$(STACK)),tools-cluster)
	$(GO) run ./bench -stack $(STACK) -n $(BENCH_N) -m $(BENCH_M) -k $(BENCH_K) -c $(BENCH_CONCURRENCY) -out docs/benchmarks.md

# Workflow histories for the replay tests (docs/workflow-versioning.md): every
# workflow type's main paths run on a stack of their own and are written to
# workflows/testdata/histories (files of the same name are replaced), then
# replayed. make test replays them as an ordinary unit test.
histories: tools postgres
	EXAMFLOW_RECORD_HISTORIES=1 $(GO) test -count=1 -timeout 10m -run '^TestRecordHistories$$' -v ./e2e/
	$(GO) test -count=1 -run 'Replay|RecordedHistories' ./workflows/

# Fuzzing: every fuzz target in FUZZ_PACKAGES (found by name) for FUZZTIME
# each; go test -fuzz takes one package and one target per run. A failing
# input is written to the package's testdata/fuzz/<target>/. make test runs
# only the seed corpora, as ordinary tests; .ci/run fuzzes briefly.
# FUZZTIME is a count of executions (Nx), not a duration: with a duration
# Go's fuzz coordinator can report "context deadline exceeded" as a failure
# when the time runs out under load (golang/go#75804, fixed in Go 1.27).
FUZZTIME ?= 20000x
FUZZ_PACKAGES ?= ./identity ./api
.PHONY: fuzz
fuzz:
	@set -e; for pkg in $(FUZZ_PACKAGES); do \
		targets=$$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz') || { echo "no fuzz targets in $$pkg"; exit 1; }; \
		for target in $$targets; do \
			echo "fuzz: $$pkg $$target for $(FUZZTIME)"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

clean-dev:
	rm -rf .dev
