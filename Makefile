# The two commands of the README: `make book` and `make test`. Both create the environment
# (.venv, Python 3.11, every package pinned in pyproject.toml) when it is absent or stale.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# uv does not read pip's settings; hand it pip's find-links (the local CPU torch wheel lives there).
FIND_LINKS := $(foreach d,$(PIP_FIND_LINKS),--find-links $(d))
# Debian packages of the set-up, as command:package (the command tells whether the package is there)
APT_PACKAGES := x265:x265 ffmpeg:ffmpeg chromium:chromium sbatch:slurm-wlm
# Debian packages whose photographs `make photos` takes (unpacked into data/photos/.cache, never installed)
PHOTO_PACKAGES := gcompris-qt-data lomiri-wallpapers-16.04 kphotoalbum palapeli-data puzzle-jigsaw lxqt-themes mate-backgrounds
JUPYTER_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: help env system-deps test lint format book pdf lab clean photos

help:
	@echo "make book   - build the book (quick profile) into _build/html"
	@echo "make pdf    - the book as one PDF, _build/pdf/book.pdf (single-page HTML printed by chromium)"
	@echo "make test   - lint + the whole test suite (pytest and nbval on the notebooks)"
	@echo "make lab    - JupyterLab on notebooks/"
	@echo "make photos - training photographs + stereodemo pairs into data/ (not part of make test)"
	@echo "make env    - only create/refresh the environment in $(VENV)"

env: $(STAMP)

# The install also writes the start-up hook ndic_import_hooks.pth (build_backend/ndic_backend.py).
$(STAMP): pyproject.toml build_backend/ndic_backend.py
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

# Debian codecs, browser and batch system: BPG's recipe needs x265 + ffmpeg, the book's browser test
# chromium, the sweep's SLURM test a one-node slurm-wlm.
system-deps:
	@missing=""; for pair in $(APT_PACKAGES); do \
	  command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "==> apt-get install$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null \
	    || echo "warning: apt-get could not install$$missing; the tests that need them will be skipped"; \
	else \
	  echo "note: missing system packages:$$missing (no apt-get as root here)."; \
	  echo "      Install them yourself (e.g. 'sudo apt-get install$$missing' or 'conda install x265 ffmpeg');"; \
	  echo "      until then the BPG baseline, the browser test and the SLURM test are skipped."; \
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

# The book as one PDF: the single-page HTML build, printed by Debian's chromium, headless and offline
# (MathJax is served by the build; the virtual-time budget lets it typeset before printing).
# `jupyter-book build --builder pdfhtml` would need Playwright's own Chromium download, which offline
# machines cannot fetch.
CHROMIUM ?= chromium
PDF := _build/pdf/book.pdf
pdf: $(STAMP) system-deps
	$(VENV)/bin/jupyter-book build . --builder singlehtml --warningiserror --nitpick --keep-going
	@mkdir -p $(dir $(PDF))
	$(CHROMIUM) --headless --no-sandbox --disable-gpu --no-pdf-header-footer --virtual-time-budget=60000 \
	  --print-to-pdf=$(PDF) file://$(CURDIR)/_build/singlehtml/index.html 2>/dev/null
	@test -s $(PDF) && echo "==> $(PDF)"

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks $(JUPYTER_ROOT)

# Real photographs (Debian packages, scikit-image) and stereodemo's pairs for training; see data_prep/photos.py.
photos: $(STAMP)
	$(PY) -m data_prep.photos --packages $(PHOTO_PACKAGES)

clean:
	rm -rf _build .pytest_cache
