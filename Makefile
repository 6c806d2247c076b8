# `make demo` and `make test` create .venv on first use (Python 3.11, pip; torch installs from
# this machine's wheel cache), then run. Re-installs when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test lint chromium services

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/inverse-painting demo

test: $(STAMP) chromium services
	$(VENV)/bin/python -m pytest

# The browser tests (tests/pipelines/test_ui_browser.py) drive Debian's chromium through Playwright (Playwright's own
# browser download needs the internet). Installed here when missing and this is root with apt; otherwise
# those tests are skipped with the command to run (CI sets INVERSE_PAINTING_BROWSER_TESTS=required).
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium >/dev/null; } ; } || \
	  echo "note: no chromium: the browser tests will be skipped (sudo apt-get install chromium)"

# The cluster test (tests/pipelines/test_cluster.py) starts PostgreSQL and Redis from Debian's packages on 127.0.0.1
# (Debian keeps initdb/pg_ctl in /usr/lib/postgresql/<version>/bin). Installed here when missing and this is root
# with apt; otherwise that test is skipped with the command to run (CI sets INVERSE_PAINTING_CLUSTER_TESTS=required).
services:
	@{ command -v redis-server >/dev/null && \
	   { command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }; } || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    { apt-get update -q >/dev/null && \
	      apt-get install -y -q --no-install-recommends postgresql redis-server >/dev/null; } ; } || \
	  echo "note: no PostgreSQL/Redis: the cluster test will be skipped (sudo apt-get install postgresql redis-server)"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
