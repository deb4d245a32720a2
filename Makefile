# Two commands do everything on a fresh clone with Python 3.11+:
#   make run   - install, migrate, seed, create demo users, serve API + Celery worker
#   make test  - install dev tools and every grading environment, run the whole test suite
# Grading environments beyond numpy (workers/environments.py), each in its own prefix:
#   make env ENV=scientific   (or ENV=torch, or ENV=all)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint fmt check bench clean sandbox-tools browser env environments

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed, found " + sys.version.split()[0] + "; run with PYTHON=python3.12 (for example).")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-base: requirements/base.txt | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements/base.txt
	touch $@

$(VENV)/.installed-dev: requirements/dev.txt requirements/base.txt | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	touch $@ $(VENV)/.installed-base

# bubblewrap for the grading sandbox (skipped when GRADER_SANDBOX=rlimits is chosen).
sandbox-tools: | $(BIN)/python
	@if [ "$${GRADER_SANDBOX:-bubblewrap}" = bubblewrap ]; then BIN=$(BIN) scripts/ensure-bwrap.sh; fi

# Debian's Chromium for the Playwright browser tests (see tests/browser/).
browser:
	@scripts/ensure-chromium.sh

# ENV=scientific, ENV=torch or ENV=all; `make run` then grades that environment too.
env: $(VENV)/.installed-base
	@test -n "$(ENV)" || { echo "Say which: make env ENV=scientific (or torch, or all)"; exit 2; }
	$(BIN)/python -m workers.environments install $(ENV)

# CI tests every environment; an up-to-date one is not installed again.
environments: $(VENV)/.installed-base
	$(BIN)/python -m workers.environments install all

run: $(VENV)/.installed-base sandbox-tools
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_bank
	@echo "Demo accounts:"
	@$(BIN)/python manage.py create_demo_users
	HOST=$(HOST) PORT=$(PORT) BIN=$(BIN) scripts/run-dev.sh

test: $(VENV)/.installed-dev sandbox-tools browser environments
	$(BIN)/pytest $(PYTEST_ARGS)

# A student's launch from an LMS that is not the in-repo one (lti1p3platform), through
# to the score arriving there; see acceptance/README.md. Not part of `make test`.
.PHONY: acceptance
acceptance: $(VENV)/.installed-dev browser
	$(BIN)/python acceptance/run_foreign_launch.py $(ACCEPTANCE_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

fmt: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

check: lint test

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .mypy_cache .ruff_cache
