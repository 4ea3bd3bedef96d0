# cwmn_web: `make run` serves the demo, `make test` runs every test. Both set up what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test unit lint build wheel db browsers services bench docs clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[server,dev]'
	touch $@

browsers:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/firefox-esr ] || [ ! -x /usr/bin/ffmpeg ]; then \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium firefox-esr ffmpeg >/dev/null; \
	fi

# The many-process tests and benchmarks start their own throwaway PostgreSQL and Redis
# (cwmn_web/testing/services.py: temporary data, free ports, stopped at the end).
services:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v redis-server >/dev/null; then \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql redis-server >/dev/null; \
	fi

build: $(VENV)/.installed
	$(PY) build.py

# The server wheel, static files and browser build included (hatch_build.py), into dist/:
# `pip install dist/cwmn_web-*.whl` then `cwmn-web serve` runs anywhere (docs/DEPLOY.md).
wheel: build
	$(PY) -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir dist .
	@ls dist/cwmn_web-*.whl

db: $(VENV)/.installed
	$(VENV)/bin/cwmn-web init-db

# The render worker (replay videos) runs in the background while the server runs; its guard
# against private addresses stays on, with this server's own origin (the demo's pages) named
# as the one private origin it may load (CWMN_RENDER_ALLOW_ORIGINS, docs/REPLAY.md).
RENDER_ORIGINS = http://127.0.0.1:$(PORT),http://localhost:$(PORT),http://$(HOST):$(PORT)
# HOST is not added to CWMN_ALLOWED_HOSTS: 0.0.0.0 is no name, and links need a public URL.
run: browsers build db
	@case "$(HOST)" in 127.*|localhost|::1) ;; *) [ -n "$$CWMN_PUBLIC_URL" ] || echo \
	  "make run: HOST=$(HOST) listens beyond this machine, but without CWMN_PUBLIC_URL the server answers localhost only: add CWMN_PUBLIC_URL=http://LAN-ADDRESS:$(PORT)" >&2;; esac
	CWMN_RENDER_ALLOW_ORIGINS=$${CWMN_RENDER_ALLOW_ORIGINS:-$(RENDER_ORIGINS)} $(VENV)/bin/cwmn-web render-worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	CWMN_OUTBOX_PAGE=$${CWMN_OUTBOX_PAGE:-auto} $(VENV)/bin/cwmn-web serve --host $(HOST) --port $(PORT)

# The JavaScript of static/ is type-checked by TypeScript (bench/package.json pins it) over the
# generated constants and cwmn.d.ts (`build.py constants` writes only those).
lint: $(VENV)/.installed bench/node_modules/.package-lock.json
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) build.py constants
	bench/node_modules/.bin/tsc -p static/jsconfig.json
	bench/node_modules/.bin/tsc -p static/jsconfig.worker.json
	$(PY) -m pytest -q -p no:cacheprovider tests/unit/test_import_cycles.py tests/unit/test_docs.py

unit: services $(VENV)/.installed
	$(PY) -m pytest tests/unit tests/server -q

test: browsers services build lint bench/node_modules/.package-lock.json
	$(PY) -m pytest -q

docs: $(VENV)/.installed
	$(PY) -m cwmn_web.server.reference

bench/node_modules/.package-lock.json: bench/package-lock.json
	npm ci --prefix bench --no-audit --no-fund --silent

bench: browsers services build bench/node_modules/.package-lock.json
	$(PY) -m bench

clean:
	rm -rf static/dist .build dist $(VENV) data
