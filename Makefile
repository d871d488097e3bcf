# Self-contained: no tool is downloaded from anywhere but the Go module proxy
# and Debian's archive.
SHELL := /bin/bash
GO ?= go
BIN ?= bin
VERSION ?= $(shell cat VERSION 2>/dev/null || echo 0.0.0)
REVISION ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
BRANCH ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
BUILD_DATE ?= $(shell date -u +%Y%m%dT%H%M%SZ)
VERSION_PKG := github.com/prometheus/common/version
LDFLAGS := -s -w \
	-X $(VERSION_PKG).Version=$(VERSION) \
	-X $(VERSION_PKG).Revision=$(REVISION) \
	-X $(VERSION_PKG).Branch=$(BRANCH) \
	-X $(VERSION_PKG).BuildUser=license-monitor \
	-X $(VERSION_PKG).BuildDate=$(BUILD_DATE)
# The one build command; deploy/docker/Dockerfile runs the same.
GOBUILD := CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)"
PROGRAMS := license_exporter license_sidecar license_simulator
STATICCHECK_VERSION := v0.8.2
export LICENSE_MONITOR_BIN := $(abspath $(BIN))

.PHONY: all build run test lint deps rules unit fuzz fuzz-seeds tools-test deploy-test deploy-generate docker install bench soak longrange dashboards clean

all: build

build:
	@mkdir -p $(BIN)
	@for p in $(PROGRAMS); do \
		if [ -d cmd/$$p ]; then echo ">> building $$p"; $(GOBUILD) -o $(BIN)/$$p ./cmd/$$p || exit 1; fi; \
	done
	@# The simulator run as "lmutil" is the fake lmutil the demo's FlexLM source reads.
	@ln -sfn license_simulator $(BIN)/lmutil

# Installs what a fresh machine lacks: Debian's real tools used by the tests.
deps:
	@missing=""; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v prometheus-alertmanager >/dev/null && command -v amtool >/dev/null || missing="$$missing prometheus-alertmanager"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v systemd-analyze >/dev/null || missing="$$missing systemd"; \
	if [ -n "$$missing" ]; then \
		echo ">> installing Debian packages:$$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -q && apt-get install -y -q $$missing </dev/null || exit 1; \
	fi
	@$(GO) mod download
	@cd tools && $(GO) mod download
	@cd tools/deploycheck && $(GO) mod download

run: build
	@DEMO_NOW=$(DEMO_NOW) ./deploy/run-demo.sh $(BIN)

lint:
	@echo ">> go vet"; $(GO) vet ./... && $(GO) vet -tags bench,soak ./internal/bench/... ./source/flexlm ./e2e \
		&& (cd tools && $(GO) vet ./...) && (cd tools/deploycheck && $(GO) vet ./...)
	@echo ">> gofmt"; out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@echo ">> staticcheck"; $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) -tags bench,soak ./...
	@cd tools && $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

test: deps lint build rules unit fuzz-seeds tools-test deploy-test
	@echo ">> all tests passed"

# promtool from Debian's prometheus 2.42: static checks and rule unit tests.
rules:
	@echo ">> promtool check rules"
	promtool check rules alerts/rules.yml alerts/alerts.yml
	@echo ">> promtool test rules"
	promtool test rules alerts/tests/*.yml
	@echo ">> amtool check-config"
	amtool check-config deploy/alertmanager/alertmanager.yml

unit:
	@echo ">> go test -race (unit and end-to-end)"
	$(GO) test -race -count=1 ./...

# The seed corpora of every fuzz target run with the unit tests (go test
# runs them as plain tests). `make fuzz` runs each target with the fuzzer
# on for FUZZTIME.
FUZZTIME ?= 30s
FUZZ_TARGETS := \
	./source/csi:FuzzDecodeLicenses ./source/csi:FuzzDecodeSessions \
	./source/csi:FuzzDecodeDenials ./source/csi:FuzzDecodeMatchesStdlib ./source/flexlm:FuzzParse ./source/flexlm:FuzzParseDenied \
	./internal/config:FuzzLoadExporter ./internal/config:FuzzLoadSidecar ./internal/config:FuzzErrorsHideValues \
	./internal/sidecar:FuzzProxyIdentity ./internal/sidecar:FuzzParseGroups ./internal/sidecar:FuzzToolkitConfig ./internal/identity:FuzzCheck \
	./internal/simulator:FuzzPageToken ./internal/simulator:FuzzControlBodies ./internal/simulator:FuzzFlexLMBodies \
	./internal/exposition:FuzzWriterMatchesExpfmt ./internal/exposition:FuzzSplicedGzip \
	./internal/probe:FuzzAnalyze ./internal/probe:FuzzLineShape
fuzz-seeds:
	@echo ">> fuzz seed corpora"
	@for t in $(FUZZ_TARGETS); do \
		$(GO) test -count=1 -v -run "^$${t#*:}$$" $${t%%:*} 2>&1 | grep -q -- "^--- PASS: $${t#*:} " \
			|| { echo "seed corpus of $$t failed or the target is gone"; exit 1; }; \
	done; echo "$(words $(FUZZ_TARGETS)) fuzz targets' seed corpora pass"

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		echo ">> fuzzing $$t for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) $${t%%:*} || exit 1; \
	done

# Benchmarks of a poll and a scrape on the small, large and huge tiers, and
# of the FlexLM tier's parse and poll, next to their floors, as ratios, and
# the exporter's peak RSS holding the huge and the FlexLM tier; fails when a
# budget breaks. About 6 minutes; not part of make test. BENCH_TIERS (e.g.
# BENCH_TIERS=flexlm) limits it to some of small,large,huge,flexlm. -p 1:
# the two packages run one after the other, never competing for the CPUs.
bench: build
	BENCH_TIERS=$(BENCH_TIERS) $(GO) test -tags bench -run '^TestReport$$' -v -count=1 -p 1 -timeout 30m ./internal/bench ./source/flexlm

# 10 minutes of scrapes, churn and faults; not part of make test.
soak: build
	$(GO) test -tags soak -run TestSoak -v -count=1 -timeout 20m ./e2e

# A year of a large account's recorded series (500 licenses, 20,000 users)
# backfilled into Debian's prometheus with promtool; every capacity query at
# $window=365d must answer within max-samples, in 5 s, with data, and the
# renewal table must ask for more seats where the data ran short. Prints
# each query's time. About 5 minutes; not part of make test.
longrange:
	cd tools && $(GO) test -tags longrange -run '^TestLongRange$$' -v -count=1 -timeout 30m ./dashboards/

# Regenerates dashboards/*.json from tools/dashboards; tests fail on drift.
dashboards:
	cd tools && $(GO) run ./dashboards/cmd/dashgen -out ../dashboards

tools-test:
	@echo ">> tools module tests"
	cd tools && $(GO) test -count=1 ./...

# The container image of deploy/docker/Dockerfile; needs a Docker engine.
docker:
	@docker info >/dev/null 2>&1 || { echo "make docker needs a running Docker engine ('docker info' failed)" >&2; exit 1; }
	docker build -f deploy/docker/Dockerfile \
		--build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) \
		--build-arg BRANCH=$(BRANCH) --build-arg BUILD_DATE=$(BUILD_DATE) \
		-t license-monitor:$(VERSION) -t license-monitor:latest .

PREFIX ?= /usr/local
# Binaries, systemd units, system users and example configs (DESTDIR stages).
install: build
	DESTDIR=$(DESTDIR) PREFIX=$(PREFIX) deploy/systemd/install.sh $(BIN)

# The PrometheusRule and dashboards ConfigMap of deploy/kubernetes/base.
deploy-generate:
	cd tools/deploycheck && $(GO) run ./cmd/deploygen

deploy-test:
	@echo ">> deployment artifacts (tools/deploycheck)"
	cd tools/deploycheck && $(GO) test -race -count=1 ./...

clean:
	rm -rf $(BIN)
