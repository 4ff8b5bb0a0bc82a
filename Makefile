# The two commands of the README: `make book` and `make test`. Both create the environment
# (.venv, Python 3.11, every package pinned in pyproject.toml) when it is absent or stale.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# uv does not read pip's settings; hand it pip's find-links (the local CPU torch wheel lives there).
FIND_LINKS := $(foreach d,$(PIP_FIND_LINKS),--find-links $(d))
APT_PACKAGES := x265 ffmpeg chromium
JUPYTER_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: help env system-deps test lint format book lab clean

help:
	@echo "make book   - build the book (quick profile) into _build/html"
	@echo "make test   - lint + the whole test suite (pytest and nbval on the notebooks)"
	@echo "make lab    - JupyterLab on notebooks/"
	@echo "make env    - only create/refresh the environment in $(VENV)"

env: $(STAMP)

$(STAMP): pyproject.toml
	@echo "==> setting up $(VENV) with the pinned packages of pyproject.toml"
	@if ! command -v $(PYTHON) >/dev/null 2>&1; then \
	  echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11 ...'"; exit 1; fi
	@if command -v uv >/dev/null 2>&1; then \
	  uv venv --allow-existing -q -p $(PYTHON) $(VENV) && \
	  uv pip install -q --python $(PY) $(FIND_LINKS) -e '.[dev,book,lab]'; \
	else \
	  echo "    (uv not found: using pip, which is slower)"; \
	  $(PYTHON) -m venv $(VENV) && $(PY) -m pip install -q -e '.[dev,book,lab]'; \
	fi
	@touch $@

# Debian codecs and browser: BPG's recipe needs x265 + ffmpeg, the book's browser test chromium.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do command -v $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "==> apt-get install$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null \
	    || echo "warning: apt-get could not install$$missing; the tests that need them will be skipped"; \
	else \
	  echo "note: missing system packages:$$missing (no apt-get as root here)."; \
	  echo "      Install them yourself (e.g. 'sudo apt-get install$$missing' or 'conda install x265 ffmpeg');"; \
	  echo "      until then the BPG baseline and the browser test are skipped."; \
	fi

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

test: $(STAMP) system-deps lint
	@# two workers: one core each (OMP_NUM_THREADS=1); files stay whole on one worker
	OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 --dist loadfile tests --nbval-lax notebooks

book: $(STAMP) system-deps
	@start=$$(date +%s); \
	$(VENV)/bin/jupyter-book build . --warningiserror --nitpick --keep-going && \
	echo "==> book built in $$(( $$(date +%s) - start )) s; open $(CURDIR)/_build/html/index.html"

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks $(JUPYTER_ROOT)

clean:
	rm -rf _build .pytest_cache
