# Muster: the two commands a new user needs are `make demo` and `make test`.

GO            ?= go
BIN           := $(CURDIR)/bin
TEMPORAL_CLI  := github.com/temporalio/cli/cmd/temporal@v1.5.1
TEMPORAL      := $(BIN)/temporal
# The static checkers, pinned; a changed version installs anew.
STATICCHECK_VERSION   := v0.8.2
WORKFLOWCHECK_VERSION := v0.6.0
STATICCHECK   := $(BIN)/staticcheck
WORKFLOWCHECK := $(BIN)/workflowcheck
STATICCHECK_STAMP   := $(BIN)/.staticcheck-$(STATICCHECK_VERSION)
WORKFLOWCHECK_STAMP := $(BIN)/.workflowcheck-$(WORKFLOWCHECK_VERSION)
DATA_DIR      ?= .muster
UI_PORT       ?= 8233
# One task-queue partition and eager activities: about 8x faster on a small machine.
DEV_ARGS      := --dynamic-config-value matching.numTaskqueueReadPartitions=1 \
                 --dynamic-config-value matching.numTaskqueueWritePartitions=1 \
                 --dynamic-config-value system.enableActivityEagerExecution=true
SEARCH_ATTRS  := --search-attribute MusterIncident=Keyword --search-attribute MusterAreaPath=KeywordList \
                 --search-attribute MusterRunbook=Keyword --search-attribute MusterStep=Keyword \
                 --search-attribute MusterStepState=Keyword --search-attribute MusterLevel=Int
# The cluster: a patched Temporal release and its Web UI, built from the
# module proxy (internal/devenv/cluster.go and docker-compose.yml pin the same).
TEMPORAL_SERVER_VERSION := v1.29.7
TEMPORAL_UI_VERSION     := v2.42.1
CLUSTER_DIR   ?= $(DATA_DIR)/cluster
CLUSTER_BINS  := $(BIN)/temporal-server $(BIN)/temporal-sql-tool $(BIN)/temporal-ui-server

.PHONY: demo test test-all test-short bench bench-city fuzz build tools checkers check dev worker cluster cluster-down cluster-status chaos vet fmt-check staticcheck workflowcheck clean help record-histories

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

demo: tools build ## Run the stack and seal Longbao's compounds (about a minute; Ctrl-C stops everything)
	$(BIN)/muster demo --data-dir $(DATA_DIR) --ui-port $(UI_PORT)

test: ## Run the static checks and every test: workflow, store, activity, CLI, end to end, the native cluster and the short fault battery
	@start=$$(date +%s); $(MAKE) --no-print-directory test-all; rc=$$?; \
	echo "make test: $$(( $$(date +%s) - start )) s wall time"; exit $$rc

# The cluster's binaries are built too, so the cluster and fault-battery
# tests run instead of skipping. The static checks run beside the tests, not
# before them: the end-to-end tests spend most of their time waiting on
# workflow timers, so the checks cost little wall time there. Their output
# follows the tests'; either failing fails the target. go test's own vet is
# off because `check` runs all of go vet. Four packages and four tests of a
# package at once keep the waiting end-to-end tests from queueing behind
# each other on two cores; the store's tests, which wait on PostgreSQL, take
# two thirds of the time they take two at a time.
TEST_FLAGS    ?= -p 4 -parallel 4
test-all: tools build $(CLUSTER_BINS) checkers
	@log=$$(mktemp); $(MAKE) --no-print-directory check >$$log 2>&1 & checks=$$!; \
	MUSTER_TEMPORAL_BIN=$(TEMPORAL) $(GO) test -count=1 -vet=off $(TEST_FLAGS) -timeout 20m ./...; rc=$$?; \
	wait $$checks; crc=$$?; echo "--- make check"; cat $$log; rm -f $$log; \
	if [ $$crc -ne 0 ]; then echo "make check failed"; rc=1; fi; exit $$rc

test-short: ## Run the tests that need neither Temporal nor the end-to-end stack
	@start=$$(date +%s); $(GO) test -count=1 -short $(TEST_FLAGS) ./...; rc=$$?; \
	echo "make test-short: $$(( $$(date +%s) - start )) s wall time"; exit $$rc

check: vet fmt-check staticcheck workflowcheck ## Run go vet, gofmt, staticcheck and workflowcheck

staticcheck: $(STATICCHECK_STAMP)
	$(STATICCHECK) ./...

# workflowcheck.config.yaml says which calls workflow code may make.
workflowcheck: $(WORKFLOWCHECK_STAMP)
	$(WORKFLOWCHECK) -config workflowcheck.config.yaml ./...

bench: $(TEMPORAL) ## Measure the data layer (sample ingestion, home visits in batches, staff assignment), a million-resident round, a district of 1,000 compounds sealed, then Taiyuan's round (bench-city); up to half an hour, needs PostgreSQL and psql
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./internal/store/...
	MUSTER_TEMPORAL_BIN=$(TEMPORAL) $(GO) test -run '^$$' -bench 'MillionResident|DistrictSealed' -benchtime 1x -timeout 30m ./app/e2e/
	$(MAKE) --no-print-directory bench-city

# Only its benchmark's name runs it: `make test` never does.
bench-city: build $(CLUSTER_BINS) ## Taiyuan's round: 5,400,000 residents in 2,000 communities on the cluster with two workers (about twenty minutes with the loading, both cores)
	MUSTER_BIN_DIR=$(BIN) $(GO) test -run '^$$' -bench TaiyuanRound -benchtime 1x -timeout 60m ./app/e2e/

# Fuzz targets (package:target); their seed corpora in testdata/fuzz run in every `make test`.
FUZZ_TARGETS  := ./internal/scenario:FuzzParse ./internal/runbook:FuzzParse ./internal/samples:FuzzRead ./app/api:FuzzRequestBodies
FUZZTIME      ?= 30s

fuzz: ## Fuzz scenario files, runbooks, sample CSV and API bodies, FUZZTIME (30s) each
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; echo "fuzz $$fn in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

# Histories land in a folder named after the commit they were recorded on, so
# histories from before a workflow.GetVersion change stay beside newer ones.
RECORD_TESTS  := TestCommunityOutbreakLevel1EndToEnd TestInspectionFirstDayEndToEnd TestObservationWaitEndToEnd
RECORD_DIR    ?= $(CURDIR)/workflows/testdata/histories/$(shell git rev-parse --short HEAD 2>/dev/null || date +%Y%m%d)

record-histories: $(TEMPORAL) ## Record a history of every workflow type from end-to-end runs into workflows/testdata/histories (a few minutes)
	rm -rf $(RECORD_DIR)
	status=0; for t in $(RECORD_TESTS); do \
		MUSTER_TEMPORAL_BIN=$(TEMPORAL) MUSTER_RECORD_HISTORIES=$(RECORD_DIR) $(GO) test -count=1 -timeout 15m -run "^$$t$$" ./app/e2e/ || status=1; \
	done; cat $(RECORD_DIR)/index.json; exit $$status

build: ## Build bin/muster and bin/muster-worker
	$(GO) build -o $(BIN)/muster ./starter
	$(GO) build -o $(BIN)/muster-worker ./worker

tools: $(TEMPORAL) ## Install the pinned temporal CLI into bin/

checkers: $(STATICCHECK_STAMP) $(WORKFLOWCHECK_STAMP) ## Install the pinned staticcheck and workflowcheck into bin/

$(STATICCHECK_STAMP):
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@rm -f $(BIN)/.staticcheck-*; touch $@

$(WORKFLOWCHECK_STAMP):
	GOBIN=$(BIN) $(GO) install go.temporal.io/sdk/contrib/tools/workflowcheck@$(WORKFLOWCHECK_VERSION)
	@rm -f $(BIN)/.workflowcheck-*; touch $@

$(TEMPORAL):
	@echo "Installing the temporal CLI ($(TEMPORAL_CLI)); the first build takes a few minutes."
	GOBIN=$(BIN) $(GO) install $(TEMPORAL_CLI)

dev: tools ## Run only Temporal's dev server with the Web UI (then run bin/muster-worker yourself)
	@mkdir -p $(DATA_DIR)
	$(TEMPORAL) server start-dev --ip 127.0.0.1 --ui-port $(UI_PORT) --db-filename $(DATA_DIR)/temporal.db \
		$(DEV_ARGS) $(SEARCH_ATTRS)

cluster: build $(CLUSTER_BINS) ## Start the production topology natively: Temporal services on PostgreSQL, Web UI, two workers
	$(BIN)/muster cluster up --data-dir $(CLUSTER_DIR) --ui-port $(UI_PORT) $(if $(ADMIN_URL),--admin-url '$(ADMIN_URL)')

cluster-down: ## Stop everything `make cluster` started
	$(BIN)/muster cluster down --data-dir $(CLUSTER_DIR)

cluster-status: ## Show the cluster's processes
	$(BIN)/muster cluster status --data-dir $(CLUSTER_DIR)

# SEED=n replays the faults' moments of an earlier run.
chaos: build $(CLUSTER_BINS) ## Run the fault battery: a round over 100,000 residents on the cluster while its parts are killed (about 5 minutes)
	$(BIN)/muster chaos --data-dir $(DATA_DIR)/chaos --bin $(BIN) $(if $(SEED),--seed $(SEED))

# Each is installed into a folder of its own, then renamed: the modules name
# them all "server" or "sql". The first build takes a few minutes.
$(BIN)/temporal-server:
	GOBIN=$(BIN)/.server $(GO) install go.temporal.io/server/cmd/server@$(TEMPORAL_SERVER_VERSION)
	mv $(BIN)/.server/server $@ && rmdir $(BIN)/.server

$(BIN)/temporal-sql-tool:
	GOBIN=$(BIN)/.sql $(GO) install go.temporal.io/server/cmd/tools/sql@$(TEMPORAL_SERVER_VERSION)
	mv $(BIN)/.sql/sql $@ && rmdir $(BIN)/.sql

$(BIN)/temporal-ui-server:
	GOBIN=$(BIN)/.ui $(GO) install github.com/temporalio/ui-server/v2/cmd/server@$(TEMPORAL_UI_VERSION)
	mv $(BIN)/.ui/server $@ && rmdir $(BIN)/.ui

worker: build ## Run a worker against DATABASE_URL and TEMPORAL_ADDRESS
	$(BIN)/muster-worker

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi

clean: ## Remove binaries and the demo's data folder
	rm -rf $(BIN) $(DATA_DIR)
