# Open MES: set-up, run and test. GNU make and bash; see README.md.
#
#   make run    install, migrate, load the demo plant, start everything, print URL and logins
#   make test   lint, migration check and the whole pytest suite against PostgreSQL
#
# Every recipe is one bash script (.ONESHELL) that stops at the first failing command.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# Python 3.11 (or newer) that creates the virtualenv.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
VENV := .venv
BIN := $(VENV)/bin
VENV_PYTHON := $(BIN)/python
MANAGE := $(VENV_PYTHON) manage.py
REQUIREMENTS_STAMP := $(VENV)/.requirements.sha256
CHROMIUM := /usr/bin/chromium

# The secret key of make run/migrate/demo when DJANGO_SECRET_KEY is not set: generated once,
# readable by its owner only, kept out of git (var/ is ignored). Never used by make test.
SECRET_KEY_FILE := var/secret-key

# Shell lines that export DJANGO_SECRET_KEY from $(SECRET_KEY_FILE), generating it first.
define SECRET_KEY_EXPORT
if [ -z "$${DJANGO_SECRET_KEY:-}" ]; then
  if [ ! -s $(SECRET_KEY_FILE) ]; then
    mkdir -p $(dir $(SECRET_KEY_FILE))
    (umask 077; $(VENV_PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))' \
      > $(SECRET_KEY_FILE))
    echo "==> generated a secret key into $(SECRET_KEY_FILE) (set DJANGO_SECRET_KEY to use your own)"
  fi
  DJANGO_SECRET_KEY="$$(cat $(SECRET_KEY_FILE))"
  export DJANGO_SECRET_KEY
fi
endef

# make run (each also read from the environment or .env; the environment wins over .env)
PORT ?= 8000
BIND ?= 127.0.0.1
WORKER_CONCURRENCY ?= 2

# make broker: Mosquitto with the shipped deploy/mosquitto/mosquitto.conf, its passwords,
# certificates and persistence under var/mosquitto/ (generated once, never committed).
BROKER_DIR := var/mosquitto
BROKER_PORT ?= 1883
BROKER_TLS_PORT ?= 8883

# make test: PostgreSQL and a Redis database of their own (pytest-django creates test_<name>).
TEST_DATABASE_URL ?= $(or $(DATABASE_URL),postgres://postgres@localhost:5432/mes)
TEST_REDIS_URL ?= $(or $(REDIS_URL),redis://localhost:6379/1)
TEST_TIMEOUT_S ?= 2700
PYTEST_ARGS ?=
# Test processes (pytest-xdist): one per core. PYTEST_WORKERS=0 runs the suite in one process.
PYTEST_WORKERS ?= 2
BENCH_ARGS ?=

# pip never downloads Playwright's own browsers; the tests use Debian's Chromium.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: help venv install browsers check-services broker test run migrate demo lint format \
	typecheck migrations-check bench clean distclean backup restore

help:
	@printf '%s\n' \
	  "Open MES make targets:" \
	  "  make run               install, migrate, load the demo plant, start web, Celery worker" \
	  "                         and beat (+ MQTT bridge and plant simulator), print URL and logins" \
	  "  make test              check services, ruff, migrations check, pytest (PostgreSQL)" \
	  "  make install           create .venv, install requirements.txt (skipped when unchanged)" \
	  "  make browsers          install Debian's Chromium for the browser tests (needs root)" \
	  "  make check-services    check that PostgreSQL, Redis and the MQTT broker answer" \
	  "  make broker            run Mosquitto with the shipped config (deploy/mosquitto/): users," \
	  "                         TLS certificates and data in var/mosquitto/; prints the MQTT_URLs" \
	  "  make lint | format     ruff check, format check and mypy | ruff format and fixes" \
	  "  make migrations-check  fail when a model change has no migration" \
	  "  make bench             run the benchmark scripts under bench/ with their short defaults" \
	  "  make backup            pg_dump DATABASE_URL to var/backups/ (scripts/backup.sh)" \
	  "  make restore DUMP=f TARGET_DATABASE_URL=u   restore into a new database, verify audit" \
	  "  make clean | distclean remove caches and generated files | also .venv and var/" \
	  "Variables: PORT=8000 BIND=127.0.0.1 WORKER_CONCURRENCY=2 DATABASE_URL REDIS_URL MQTT_URL" \
	  "           MQTT_SIMULATOR_URL BROKER_PORT=1883 BROKER_TLS_PORT=8883" \
	  "           PYTEST_ARGS='-k oee -x' TEST_TIMEOUT_S=1080 BENCH_ARGS"

# --- set-up ---------------------------------------------------------------------------

venv: install

install:
	@if [ -z "$(PYTHON)" ]; then
	  echo "make install: no python3.11 or python3 on PATH. Install Python 3.11 first." >&2
	  exit 1
	fi
	if ! "$(PYTHON)" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
	  echo "make install: $(PYTHON) is $$("$(PYTHON)" --version 2>&1); Python 3.11 or newer is needed." >&2
	  exit 1
	fi
	if [ ! -x $(VENV_PYTHON) ]; then
	  echo "==> creating the virtualenv $(VENV) with $(PYTHON)"
	  if ! "$(PYTHON)" -m venv $(VENV); then
	    rm -rf $(VENV)
	    echo "make install: '$(PYTHON) -m venv' failed. On Debian: apt-get install -y python3-venv" >&2
	    exit 1
	  fi
	fi
	wanted="$$(sha256sum requirements.txt | cut -d' ' -f1)"
	if [ "$$(cat $(REQUIREMENTS_STAMP) 2>/dev/null)" = "$$wanted" ]; then
	  exit 0
	fi
	echo "==> pip install -r requirements.txt"
	$(VENV_PYTHON) -m pip install --disable-pip-version-check --no-input -r requirements.txt
	echo "$$wanted" > $(REQUIREMENTS_STAMP)

# Debian's Chromium for the Playwright tests (never a Playwright browser download).
# Without root or apt, say so and carry on: the browser tests skip themselves.
browsers:
	@if [ -x $(CHROMIUM) ]; then exit 0; fi
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
	  echo "make browsers: $(CHROMIUM) is missing and installing it needs root and apt-get" \
	    "(run: sudo apt-get install -y --no-install-recommends chromium fonts-liberation)." \
	    "The browser tests will be skipped."
	  exit 0
	fi
	export DEBIAN_FRONTEND=noninteractive
	packages="chromium fonts-liberation"
	if ! apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [0-9]'; then
	  echo "==> apt-get update (the chromium package is not in the package lists)"
	  apt-get update -qq || true
	fi
	echo "==> apt-get install -y --no-install-recommends $$packages"
	if ! apt-get install -y -qq --no-install-recommends $$packages; then
	  echo "==> retrying after apt-get update"
	  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends $$packages; }; then
	    echo "make browsers: could not install chromium with apt-get (see above)." \
	      "The browser tests will be skipped."
	    exit 0
	  fi
	fi

check-services: install
	@$(VENV_PYTHON) scripts/check_services.py

# The shipped broker configuration with its paths moved under $(BROKER_DIR) and its ports
# set by BROKER_PORT (plain, 127.0.0.1 only) and BROKER_TLS_PORT (TLS, client certificates).
broker:
	@mosquitto="$$(PATH="$$PATH:/usr/sbin:/usr/local/sbin" command -v mosquitto || true)"
	if [ -z "$$mosquitto" ]; then
	  echo "make broker: mosquitto is not installed (Debian: apt-get install -y mosquitto)" >&2
	  exit 1
	fi
	if (exec 3<>"/dev/tcp/127.0.0.1/$(BROKER_PORT)") 2>/dev/null; then
	  echo "make broker: something already listens on 127.0.0.1:$(BROKER_PORT) (the machine's" \
	    "broker?). Stop it, or: make broker BROKER_PORT=1884 BROKER_TLS_PORT=8884" >&2
	  exit 1
	fi
	dir="$$(pwd)/$(BROKER_DIR)"
	mkdir -p "$$dir/data"
	deploy/mosquitto/make-passwords.sh "$$dir" mes-bridge mes-simulator
	deploy/mosquitto/make-certs.sh "$$dir/certs" mes-bridge
	sed -e "s#^listener 1883 127.0.0.1\$$#listener $(BROKER_PORT) 127.0.0.1#" \
	  -e "s#^listener 8883\$$#listener $(BROKER_TLS_PORT)#" \
	  -e "s#/etc/mosquitto/mes/acl#$$(pwd)/deploy/mosquitto/acl#" \
	  -e "s#/etc/mosquitto/mes/#$$dir/#g" \
	  -e "s#/var/lib/mosquitto/#$$dir/data/#" \
	  deploy/mosquitto/mosquitto.conf > "$$dir/mosquitto.conf"
	# As root Mosquitto would switch to the user "mosquitto", who cannot read these files.
	echo "user $$(id -un)" >> "$$dir/mosquitto.conf"
	password() { awk -v user="$$1" '$$1 == user { print $$2 }' "$$dir/credentials"; }
	{
	  echo "MQTT_URL=mqtt://mes-bridge:$$(password mes-bridge)@127.0.0.1:$(BROKER_PORT)"
	  echo "MQTT_SIMULATOR_URL=mqtt://mes-simulator:$$(password mes-simulator)@127.0.0.1:$(BROKER_PORT)"
	} > "$$dir/broker.env"
	chmod 600 "$$dir/broker.env"
	echo "==> Mosquitto with deploy/mosquitto/mosquitto.conf: plain MQTT on" \
	  "127.0.0.1:$(BROKER_PORT), TLS on port $(BROKER_TLS_PORT) (CA and the bridge's client" \
	  "certificate in $(BROKER_DIR)/certs/)"
	echo "    In another terminal:  set -a; . $(BROKER_DIR)/broker.env; set +a; make run"
	exec "$$mosquitto" -c "$$dir/mosquitto.conf"

# --- test -----------------------------------------------------------------------------

test: export DATABASE_URL := $(TEST_DATABASE_URL)
test: export REDIS_URL := $(TEST_REDIS_URL)
test: install browsers
	@started_s=$$(date +%s)
	echo "==> services (DATABASE_URL=$$DATABASE_URL REDIS_URL=$$REDIS_URL)"
	$(VENV_PYTHON) scripts/check_services.py --allow-missing-database
	echo "==> ruff check ."
	$(BIN)/ruff check .
	echo "==> ruff format --check ."
	$(BIN)/ruff format --check .
	echo "==> manage.py makemigrations --check --dry-run"
	$(MANAGE) makemigrations --check --dry-run --settings tests.settings
	echo "==> pytest -n $(PYTEST_WORKERS) -m 'not solo'$(if $(PYTEST_ARGS), $(PYTEST_ARGS))"
	status=0
	timeout --foreground --signal=INT --kill-after=60 $(TEST_TIMEOUT_S) \
	  $(BIN)/pytest --durations=25 -n $(PYTEST_WORKERS) --dist loadgroup -m "not solo" \
	  $(PYTEST_ARGS) </dev/null || status=$$?
	case $$status in
	  0) ;;
	  5) echo "make test: pytest collected no tests; that is a failure, not a pass." >&2
	     exit 1 ;;
	  124) echo "make test: pytest did not finish within $(TEST_TIMEOUT_S) s." >&2
	     exit 1 ;;
	  *) exit $$status ;;
	esac
	# The tests that load the whole machine (500 websockets at once) run alone afterwards;
	# none selected by PYTEST_ARGS is fine here.
	echo "==> pytest -m solo (alone)"
	status=0
	timeout --foreground --signal=INT --kill-after=60 600 \
	  $(BIN)/pytest --durations=5 -m solo $(PYTEST_ARGS) </dev/null || status=$$?
	case $$status in
	  0|5) ;;
	  *) exit $$status ;;
	esac
	echo "==> make test passed in $$(( $$(date +%s) - started_s )) s"

# --- run ------------------------------------------------------------------------------

run: install
	@if [ -f .env ]; then
	  echo "==> reading .env (variables already set in the environment win)"
	  environment_before="$$(export -p)"
	  set -a; . ./.env; set +a
	  eval "$$environment_before" 2>/dev/null || true
	fi
	port="$${PORT:-$(PORT)}"
	bind="$${BIND:-$(BIND)}"
	concurrency="$${WORKER_CONCURRENCY:-$(WORKER_CONCURRENCY)}"
	log_level="$${LOG_LEVEL:-INFO}"
	mkdir -p var
	$(SECRET_KEY_EXPORT)
	if [ -z "$${DATABASE_URL:-}" ]; then
	  echo "==> no DATABASE_URL: using the embedded SQLite file var/db.sqlite3." \
	    "SQLite takes one writer at a time; for more than a demo set" \
	    "DATABASE_URL=postgres://postgres@localhost:5432/mes (see docs/deploy.md)."
	fi
	echo "==> checking the services"
	$(VENV_PYTHON) scripts/check_services.py
	if (exec 3<>"/dev/tcp/$$bind/$$port") 2>/dev/null; then
	  echo "make run: something already listens on $$bind:$$port. Stop it, or pick another" \
	    "port: PORT=$$((port + 1)) make run" >&2
	  exit 1
	fi
	# A local demo with public passwords: no second factor unless MFA_REQUIRED_ROLES is set.
	# Production's default (unset) asks admin, supervisor and quality for a TOTP code.
	export MFA_REQUIRED_ROLES="$${MFA_REQUIRED_ROLES-}"
	echo "==> manage.py migrate"
	$(MANAGE) migrate --noinput
	# The demo runs without DJANGO_DEBUG, like a plant; --force-demo says this is a demo machine.
	echo "==> manage.py load_demo_plant --force-demo"
	$(MANAGE) load_demo_plant --force-demo
	if $(MANAGE) help serve_demo_devices >/dev/null 2>&1; then
	  $(MANAGE) serve_demo_devices --configure-only
	fi
	$(MANAGE) collectstatic --noinput --verbosity 0
	{
	  echo "  Supervisor page  http://$$bind:$$port/"
	  echo "  Admin            http://$$bind:$$port/admin/"
	  echo "  API docs         http://$$bind:$$port/api/docs/"
	  echo "Demo logins (user, password):"
	  if ! $(MANAGE) load_demo_plant --print-logins 2>/dev/null | sed 's/^/  /' \
	      > var/demo-logins.txt || [ ! -s var/demo-logins.txt ]; then
	    printf '  %-12s %s\n' supervisor supervisor-demo operator operator-demo \
	      maintenance maintenance-demo quality quality-demo planner planner-demo \
	      integration integration-demo admin admin-demo > var/demo-logins.txt
	  fi
	  cat var/demo-logins.txt
	  if [ -z "$$MFA_REQUIRED_ROLES" ]; then
	    echo "Second factor (TOTP): off in this demo (MFA_REQUIRED_ROLES is empty). In production"
	    echo "  it is on by default for admin, supervisor and quality (docs/security.md)."
	  else
	    echo "Second factor (TOTP): required for $$MFA_REQUIRED_ROLES (set up at the first login)."
	  fi
	} > var/run-banner.txt
	processes=(
	  "web=$(BIN)/daphne --websocket_connect_timeout 30 -b $$bind -p $$port mes_site.asgi:application"
	  "worker=$(BIN)/celery -A mes_site worker -Q ingest,default,scheduling --concurrency $$concurrency --loglevel $$log_level"
	  "beat=$(BIN)/celery -A mes_site beat --schedule var/celerybeat-schedule --loglevel $$log_level"
	)
	if $(MANAGE) help mqtt_bridge >/dev/null 2>&1; then
	  processes+=("bridge=$(MANAGE) mqtt_bridge")
	else
	  echo "==> no mqtt_bridge command yet: running without the MQTT bridge"
	fi
	if $(MANAGE) help simulate_plant >/dev/null 2>&1; then
	  # On the shipped broker the simulator has a user of its own (make broker).
	  simulator_url="$${MQTT_SIMULATOR_URL:-}"
	  processes+=("simulator=$${simulator_url:+env MQTT_URL=$$simulator_url }$(MANAGE) simulate_plant")
	else
	  echo "==> no simulate_plant command yet: running without the plant simulator"
	fi
	if $(MANAGE) help serve_demo_devices >/dev/null 2>&1; then
	  # Part of the demo plant through OPC UA and Modbus TCP (docs/connectors.md).
	  processes+=("devices=$(MANAGE) serve_demo_devices" "connectors=$(MANAGE) connect")
	fi
	echo "==> starting $${#processes[@]} processes (Ctrl-C stops them all)"
	exec $(VENV_PYTHON) scripts/run_all.py --ready-url "http://$$bind:$$port/" \
	  --banner-file var/run-banner.txt "$${processes[@]}"

migrate: install
	@$(SECRET_KEY_EXPORT)
	$(MANAGE) migrate --noinput

demo: migrate
	@$(SECRET_KEY_EXPORT)
	$(MANAGE) load_demo_plant --force-demo

# --- operations (docs/operations.md) ----------------------------------------------------

backup:
	@scripts/backup.sh "$${DATABASE_URL:?make backup: set DATABASE_URL to the PostgreSQL database}"

restore: install
	@$(SECRET_KEY_EXPORT)
	PYTHON=$(VENV_PYTHON) scripts/restore.sh "$${DUMP:?make restore: set DUMP=<file>}" \
	  "$${TARGET_DATABASE_URL:?make restore: set TARGET_DATABASE_URL to a new database}"

# --- quality --------------------------------------------------------------------------

lint: install
	@echo "==> ruff check ."
	$(BIN)/ruff check .
	echo "==> ruff format --check ."
	$(BIN)/ruff format --check .
	$(MAKE) typecheck

typecheck: install
	@paths="$$(ls -d */algorithms workers/mqtt 2>/dev/null | tr '\n' ' ')"
	if [ -z "$$paths" ]; then echo "make typecheck: nothing to check yet"; exit 0; fi
	echo "==> mypy $$paths"
	$(BIN)/mypy $$paths

format: install
	@$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrations-check: install
	@$(MANAGE) makemigrations --check --dry-run --settings tests.settings

# Every script under bench/ that has a __main__ block, run as a module with its own
# (short) default size; BENCH_ARGS is passed to each.
bench: install
	@scripts="$$(grep -rlE --include='*.py' "__name__ == ['\"]__main__['\"]" bench 2>/dev/null | sort || true)"
	if [ -z "$$scripts" ]; then echo "make bench: no bench scripts under bench/ yet"; exit 0; fi
	failed=()
	for script in $$scripts; do
	  module="$${script%.py}"; module="$${module//\//.}"
	  echo "==> python -m $$module$(if $(BENCH_ARGS), $(BENCH_ARGS))"
	  $(VENV_PYTHON) -m "$$module" $(BENCH_ARGS) || failed+=("$$module")
	done
	if [ $${#failed[@]} -gt 0 ]; then
	  echo "make bench: failed: $${failed[*]}" >&2
	  exit 1
	fi

# --- housekeeping ---------------------------------------------------------------------

clean:
	@find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
	rm -rf .ruff_cache .mypy_cache .pytest_cache .hypothesis staticfiles test-artifacts
	rm -f var/celerybeat-schedule* var/run-banner.txt var/demo-logins.txt

distclean: clean
	@rm -rf $(VENV) var
