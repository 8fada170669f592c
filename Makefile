# Open Cloud Ops. `make run` and `make test` create .venv and install the project on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run run-cerebra run-economist run-aegis test test-oco test-cerebra test-economist test-aegis lint format init-sql install

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/oco run all

run-cerebra: $(STAMP)
	$(BIN)/oco run cerebra

run-economist: $(STAMP)
	$(BIN)/oco run economist

run-aegis: $(STAMP)
	$(BIN)/oco run aegis

test: $(STAMP)
	$(BIN)/pytest -q $(PYTEST_ARGS)

test-oco: $(STAMP)
	$(BIN)/pytest -q tests/oco $(PYTEST_ARGS)

test-cerebra: $(STAMP)
	$(BIN)/pytest -q tests/cerebra $(PYTEST_ARGS)

test-economist: $(STAMP)
	$(BIN)/pytest -q tests/economist $(PYTEST_ARGS)

test-aegis: $(STAMP)
	$(BIN)/pytest -q tests/aegis $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# deploy/docker/init.sql is generated from the Alembic history (a test fails when it is stale).
init-sql: $(STAMP)
	@mkdir -p deploy/docker
	$(BIN)/python -m oco.migrations.sql > deploy/docker/init.sql
	@echo "wrote deploy/docker/init.sql"

# --- Docker Compose: the whole stack (docker-compose.yml). Needs .env with POSTGRES_PASSWORD and GF_ADMIN_PASSWORD.
COMPOSE ?= docker compose

.PHONY: docker-up docker-down docker-logs

docker-up:
	@test -f .env || { echo "no .env: cp .env.example .env and set POSTGRES_PASSWORD and GF_ADMIN_PASSWORD"; exit 2; }
	$(COMPOSE) up -d --build
	@$(COMPOSE) ps
	@echo "cerebra :8080  economist :8081  aegis :8082  prometheus :9090  grafana :3000 (admin / GF_ADMIN_PASSWORD)"
	@echo "first admin key: $(COMPOSE) run --rm --no-deps migrate cat /var/lib/oco/admin.key"

docker-down:
	$(COMPOSE) down

docker-logs:
	$(COMPOSE) logs -f --tail=200
