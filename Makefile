# The two commands a newcomer needs: `make up` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-stamp
ASYNCAPI_TOOL = tools/asyncapi
NODE_STAMP    = $(ASYNCAPI_TOOL)/node_modules/.installed-stamp

.PHONY: up down status test broker-plugins test-unit test-sqlite install migrate demo demo-programme bench bench-registration bench-scoring bench-training bench-subsidies bench-cases bench-risk bench-webhooks bench-gateway bench-compare asyncapi clean

# The packages are installed without --quiet: a line per package, not a minute of silence on the first `make up`.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing Python packages into $(VENV) (about a minute the first time) ..."
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --progress-bar on -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

# The official AsyncAPI parser, pinned by its lockfile; the suite checks docs/asyncapi.yaml with it.
# --ignore-scripts: nothing it needs runs at install time (and no telemetry call).
$(NODE_STAMP): $(ASYNCAPI_TOOL)/package.json $(ASYNCAPI_TOOL)/package-lock.json
	npm ci --prefix $(ASYNCAPI_TOOL) --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP)

up: $(STAMP)
	$(BIN)/wsli up

down:
	@if [ -x $(BIN)/wsli ]; then $(BIN)/wsli down; else echo "nothing to stop"; fi

status: $(STAMP)
	$(BIN)/wsli status

migrate: $(STAMP)
	$(BIN)/wsli migrate

# The whole default suite: unit, integration (real RabbitMQ) and e2e, on SQLite and PostgreSQL.
test: $(STAMP) $(NODE_STAMP) broker-plugins
	bash tests/run-suites.sh $(BIN)/pytest

# Shovel and federation carry the links between agencies (docs/agencies.md); idempotent, online.
broker-plugins: $(STAMP)
	$(BIN)/python -c "from shared.cli import _ensure_plugins; _ensure_plugins()"

test-unit: $(STAMP) $(NODE_STAMP)
	$(BIN)/pytest tests/unit

# Skip PostgreSQL (e.g. on a laptop without it).
test-sqlite: $(STAMP) $(NODE_STAMP) broker-plugins
	WSLI_TEST_DATABASES=sqlite bash tests/run-suites.sh $(BIN)/pytest

asyncapi: $(STAMP)
	$(BIN)/wsli asyncapi

demo: $(STAMP)
	$(BIN)/wsli demo

demo-programme: $(STAMP)
	$(BIN)/wsli demo --programme

bench: bench-registration bench-scoring bench-training bench-subsidies bench-cases bench-risk bench-webhooks

# the request path: gateway vs direct RPC vs a bare WSGI floor, CPU per request per process, POST CPU vs a
# single-process baseline, aggregates vs single GETs, event latency, RSS; a pass/fail line per target (≤ ~10 min)
bench-gateway: $(STAMP)
	$(BIN)/python -m tests.bench.gateway

# this checkout against an earlier commit, both stacks running at once, blocks of requests in turn (≈ 6 min)
bench-compare: $(STAMP)
	@test -n "$(BASE)" || { echo "usage: make bench-compare BASE=<commit> [DATABASE=postgresql]"; exit 2; }
	$(BIN)/python -m tests.bench.compare --base $(BASE) --database $(or $(DATABASE),sqlite)

bench-registration: $(STAMP)
	$(BIN)/python -m tests.bench.registration

bench-scoring: $(STAMP)
	$(BIN)/python -m tests.bench.scoring

bench-training: $(STAMP)
	$(BIN)/python -m tests.bench.training

# format check of a 10+ page report (p50/p99) and scoring of a 2,000-case × 3-expert campaign
bench-cases: $(STAMP)
	$(BIN)/python -m tests.bench.cases

# 10,000 report checks drained by 1, 2 and 4 replicas and a raw-kombu consumer (≤ 15 min, PostgreSQL)
bench-subsidies: $(STAMP)
	$(BIN)/python -m tests.bench.subsidies

# Nanhai's 12,023 enterprises imported with policies, the year's plan, coverage over 100,000
# enterprises, the safety-file aggregate against a single-service GET (sqlite and PostgreSQL)
bench-risk: $(STAMP)
	$(BIN)/python -m tests.bench.risk

# deliveries/s to a loopback receiver and commit → receipt, 1 and 100 endpoints (≤ 10 min)
bench-webhooks: $(STAMP)
	$(BIN)/python -m tests.bench.webhooks

clean: down
	rm -rf var
