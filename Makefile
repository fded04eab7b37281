# esign-webhooks: `make run` brings the whole stack up, `make check` is the fast
# tier (no servers), `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help run check test test-cluster test-compose bench bench-log chaos build lint tools clean screenshots

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

run: ## PostgreSQL + Temporal dev server (UI :8233) + API (:8080) + worker; Ctrl-C stops all. TEMPORAL=cluster: a real Temporal server (mTLS) instead
	@TEMPORAL=$(TEMPORAL) scripts/run.sh

check: ## fast tier, no servers (< 60 s warm): build, go vet, gofmt, staticcheck, workflowcheck, unit tests (-short)
	@scripts/check.sh

test: ## go vet, gofmt, staticcheck, workflowcheck and every test against a throwaway PostgreSQL and Temporal dev server
	@scripts/test.sh

test-cluster: ## the e2e suite against a real Temporal server (PostgreSQL, 4 shards, mTLS), with one api and two worker processes
	@scripts/cluster-test.sh $(ARGS)

test-compose: ## Dockerfile + docker-compose.yml for real: own dockerd (.data/docker), local substitute images, up, deliver, down -v, nothing left
	@scripts/compose-test.sh

bench: ## delivery benchmarks against the engine's own floor (docs/performance.md); TEMPORAL=cluster: on the real Temporal server
	@TEMPORAL=$(TEMPORAL) scripts/bench.sh $(ARGS)

bench-log: ## the delivery log at scale: 10M attempts over 30 days, search p99 per filter, sizes, retention (docs/performance.md); ARGS="-attempts 100000" for a small one
	@scripts/bench-log.sh $(ARGS)

chaos: ## fault suite: crashes and outages under load, delivery log vs receivers, then the throttle, ordered, receivers and notices scenarios (docs/fault-suite.md)
	@scripts/chaos.sh $(ARGS)

screenshots: ## screenshots of every console page into docs/console (the browser tests, headless chromium)
	@scripts/screenshots.sh

build: ## build .bin/webhookd
	go build -o .bin/webhookd ./cmd/webhookd

lint: ## go vet, gofmt, staticcheck and workflowcheck (pinned in tools/lint)
	go vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	@source scripts/stack.sh && run_linters

tools: ## build the pinned Temporal CLI and linters into .bin/
	@source scripts/stack.sh && ensure_temporal_cli && ensure_lint_tools

clean: ## stop nothing, delete local data (.data) and built tools (.bin)
	rm -rf .data .bin
