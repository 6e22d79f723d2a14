# The two commands a newcomer needs: `make run` and `make test`. Both bootstrap .venv.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run manage test lint format lock clean bench screenshots

# The browser tests (tests/browser) drive Debian's Chromium; Playwright never downloads one.
CHROMIUM ?= /usr/bin/chromium
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

# The virtualenv (runtime and development packages) is rebuilt whenever a lock file changes.
# Production installs requirements.lock alone (README).
$(STAMP): requirements.lock requirements-dev.lock
	@set -e; interpreter="$${PYTHON:-$$(bin/find-python)}"; \
	 echo "Creating $(VENV) with $$interpreter"; \
	 rm -rf $(VENV); "$$interpreter" -m venv $(VENV); \
	 $(PY) -m pip install --quiet --require-hashes --no-deps -r requirements-dev.lock; \
	 touch $(STAMP)

# A local demo: DEBUG on (development secret key, plain-HTTP cookies), SQLite unless
# DATABASE_URL says otherwise, on 127.0.0.1:$(PORT) with the issuer that goes with it.
# `make manage` runs a management command with the same local defaults. See README for
# production, where these variables are set in the environment instead.
PORT ?= 8000
LOCAL_ENV := DEBUG="$${DEBUG-true}" IDENTITY_ISSUER="$${IDENTITY_ISSUER:-http://127.0.0.1:$(PORT)/identity_}"

run: $(STAMP)
	$(LOCAL_ENV) $(PY) manage.py migrate --noinput
	$(LOCAL_ENV) $(PY) manage.py collectstatic --noinput --verbosity 0
	$(LOCAL_ENV) $(PY) manage.py seed_demo
	@echo "Serving on http://127.0.0.1:$(PORT)/ (Ctrl+C to stop)"
	$(LOCAL_ENV) exec $(PY) -m identity_server.serve --bind 127.0.0.1:$(PORT) --workers 2 --access-log -

# `make manage ARGS='create_client --org demo --name CI --json'`
manage: $(STAMP)
	@$(LOCAL_ENV) $(PY) manage.py $(ARGS)

# `make test ARGS=machines` runs one app's tests (any pytest arguments), after the lint.
test: $(STAMP) lint $(CHROMIUM)
	$(VENV)/bin/pytest $(ARGS)

# Installed once where it is missing (CI runs as root); quiet, and a no-op once there.
$(CHROMIUM):
	@echo "Installing Chromium for the browser tests"
	@export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq chromium >/dev/null

# Retakes the screenshots in docs/screenshots/ (shown in README) with the browser tests.
screenshots: $(STAMP) $(CHROMIUM)
	UPDATE_SCREENSHOTS=1 $(VENV)/bin/pytest tests/browser -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Token endpoint throughput with wrk, ours (RS256, then ES256) against panva's oidc-provider
# (bench/peer, Node.js 20+ and npm; `npm ci` once per lock file) and stock django-oauth-toolkit,
# with CPU per request (bench/run.py says what is measured; about 4 minutes). BENCH_DURATION,
# BENCH_ROUNDS, BENCH_CONNECTIONS, BENCH_JSON=path; PostgreSQL and Redis when DATABASE_URL and
# REDIS_URL are set. Exit status 2: everything but the peer ran (node or npm missing).
bench: $(STAMP)
	$(PY) bench/run.py

# Regenerates both locks (every transitive pin, with hashes) from pyproject.toml, with
# pip-tools in a throwaway virtualenv so that .venv stays exactly the locks:
# requirements-dev.lock (runtime and the `dev` extra) first, then requirements.lock
# (runtime only) starting from its pins, so that both pin every shared package alike.
lock:
	@set -e; tools=$$(mktemp -d); trap 'rm -rf "$$tools"' EXIT; \
	 "$${PYTHON:-$$(bin/find-python)}" -m venv "$$tools"; \
	 "$$tools/bin/pip" install --quiet pip-tools==7.6.2; \
	 compile="$$tools/bin/pip-compile --quiet --generate-hashes --allow-unsafe \
	    --no-emit-index-url --no-emit-find-links --strip-extras"; \
	 $$compile --extra dev -o requirements-dev.lock pyproject.toml; \
	 cp requirements-dev.lock requirements.lock; \
	 $$compile -o requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
