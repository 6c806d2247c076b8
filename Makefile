# `make demo` and `make test` create .venv on first use (Python 3.11, pip; torch installs from
# this machine's wheel cache), then run. Re-installs when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test lint chromium

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/inverse-painting demo

test: $(STAMP) chromium
	$(VENV)/bin/python -m pytest

# The browser tests (tests/pipelines/test_ui_browser.py) drive Debian's chromium through Playwright (Playwright's own
# browser download needs the internet). Installed here when missing and this is root with apt; otherwise
# those tests are skipped with the command to run (CI sets INVERSE_PAINTING_BROWSER_TESTS=required).
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium >/dev/null; } ; } || \
	  echo "note: no chromium: the browser tests will be skipped (sudo apt-get install chromium)"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
