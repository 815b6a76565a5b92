# relayshift — build, test, lint, demo, bench.
# `make test` is the one command CI runs (.ci/run); it installs the pinned
# tools it needs into .tools/ and node_modules/ (npm ci from the committed
# lockfile) and fails loudly when a tool it cannot install (moto_server,
# cfn-lint, node, npm) is missing.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO        ?= go
TOOLS     := $(CURDIR)/.tools
export PATH := $(TOOLS)/bin:$(PATH)

# Pinned tool versions (installed from the Go module proxy).
RIE_VERSION         := v0.0.0-20261030222936-bef5c4ba774d
STATICCHECK_VERSION := v0.8.2
ACTIONLINT_VERSION  := v1.7.12

# Every Lambda function: functions/<name>, SAM logical id <Name>Function.
FUNCTIONS := preflight release healthcheck warmup shift evaluate finalize rollback

LAMBDA_GOFLAGS := -tags lambda.norpc -trimpath -ldflags "-s -w"
LAMBDA_ENV     := CGO_ENABLED=0 GOOS=linux GOARCH=arm64

.PHONY: lab build cli test lint fmt vet tools check-tools demo bench clean sam-build sam-deploy $(FUNCTIONS:%=bin/%/bootstrap) bin/relayshift

## build: every function as a linux/arm64 bootstrap in bin/<name>/bootstrap
build: $(FUNCTIONS:%=bin/%/bootstrap)

$(FUNCTIONS:%=bin/%/bootstrap): bin/%/bootstrap:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_GOFLAGS) -o $@ ./functions/$*

## cli: the relayshift command for this machine, in bin/relayshift
cli: bin/relayshift

bin/relayshift:
	$(GO) build -trimpath -o $@ ./cmd/relayshift

# SAM's makefile builder runs `make build-<LogicalId>` with ARTIFACTS_DIR set
# (template.yaml: Metadata: BuildMethod: makefile, CodeUri: .).
build-%Function:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_GOFLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/$(shell echo '$*' | tr A-Z a-z)

## tools: install the pinned Go tools into .tools/bin
tools: $(TOOLS)/stamps/rie-$(RIE_VERSION) $(TOOLS)/stamps/staticcheck-$(STATICCHECK_VERSION) $(TOOLS)/stamps/actionlint-$(ACTIONLINT_VERSION)

$(TOOLS)/stamps/rie-$(RIE_VERSION):
	GOBIN=$(TOOLS)/bin $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)
	@mkdir -p $(@D) && touch $@

$(TOOLS)/stamps/staticcheck-$(STATICCHECK_VERSION):
	GOBIN=$(TOOLS)/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@mkdir -p $(@D) && touch $@

$(TOOLS)/stamps/actionlint-$(ACTIONLINT_VERSION):
	GOBIN=$(TOOLS)/bin $(GO) install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)
	@mkdir -p $(@D) && touch $@

## check-tools: fail loudly when a tool that cannot be installed here is missing
check-tools:
	@missing=0; for t in moto_server cfn-lint node npm; do \
	  command -v $$t >/dev/null || { echo "make: $$t is not on PATH; the emulator and definition tiers need moto_server, cfn-lint, node and npm (see docs/local-testing.md)" >&2; missing=1; }; \
	done; exit $$missing

## node_modules: asl-validator and aws-local-stepfunctions, pinned by the committed lockfile
node_modules/.package-lock.json: package.json package-lock.json
	@command -v npm >/dev/null || { echo "make: npm is not on PATH; the definition tier needs Node.js >= 20 and npm" >&2; exit 1; }
	npm ci --no-audit --no-fund
	@touch $@

## test: every test tier (unit, adapter, emulator, definition, end-to-end) and lint
test: tools check-tools node_modules/.package-lock.json lint
	$(GO) test -count=1 -timeout 9m ./...

# GO_FILES prints the repository's Go files, tracked or not (ignored ones
# excluded), and fails when git fails (no .git, "dubious ownership") or lists
# none: gofmt given no file reads stdin and would pass silently. Use it as
# its own assignment, files=$$($(GO_FILES)), so that the recipe's -e stops
# on its failure (inside another command's arguments it would not).
GO_FILES = git ls-files --cached --others --exclude-standard '*.go' | \
  { list=$$(cat); [ -n "$$list" ] || { echo "make: git ls-files listed no Go files (not a git checkout, or git refuses it: safe.directory?)" >&2; exit 1; }; echo "$$list"; }

## lint: gofmt, go vet, staticcheck, actionlint (GitHub workflows), bash -n (scripts)
lint: $(TOOLS)/stamps/staticcheck-$(STATICCHECK_VERSION) $(TOOLS)/stamps/actionlint-$(ACTIONLINT_VERSION)
	@files=$$($(GO_FILES)); \
	  out=$$(gofmt -l $$files); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	staticcheck ./...
	actionlint
	@for f in scripts/*.sh; do bash -n "$$f" || exit 1; done

fmt:
	@files=$$($(GO_FILES)); \
	  gofmt -w $$files

## demo: the story on the local lab: v2 promoted, v3 rolled back by its alarm (relayshift demo; about 40 s)
## DEMO_ARGS passes flags, e.g. make demo DEMO_ARGS="--rate 100" (relayshift demo --help)
DEMO_ARGS ?=
demo:
	$(GO) run ./cmd/relayshift demo $(DEMO_ARGS)

## lab: run the whole application on this machine (relayshift lab; Ctrl-C stops it)
lab:
	$(GO) run ./cmd/relayshift lab

## bench: measure relayshift against the local lab and print the benchmark table (about 3 minutes; README: Benchmark)
bench: build bin/relayshift $(TOOLS)/stamps/rie-$(RIE_VERSION)
	bin/relayshift bench

## sam-build, sam-deploy: build and deploy with the SAM CLI (see README: Deploying to AWS)
sam-build:
	sam build

sam-deploy: sam-build
	sam deploy

clean:
	rm -rf bin .aws-sam
