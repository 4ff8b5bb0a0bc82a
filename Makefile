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
	@$(PY) -m ndic.book_inputs
	@start=$$(date +%s); \
	$(VENV)/bin/jupyter-book build . --warningiserror --nitpick --keep-going && \
	echo "==> book built in $$(( $$(date +%s) - start )) s; open $(CURDIR)/_build/html/index.html"

# The book as one PDF: the single-page HTML build, printed by Debian's chromium, headless and offline
# (MathJax is served by the build; the virtual-time budget lets it typeset before printing).
# `jupyter-book build --builder pdfhtml` would need Playwright's own Chromium download, which offline
# machines cannot fetch.
# Sphinx writes the single page as the root document of _toc.yml (book/intro.html; index.html only redirects
# there) but writes its links and assets (_static/, _images/, book/intro.html#...) relative to the build's top
# folder: a <base> element pointing there lets the page find its styles and MathJax, and its links within
# itself become plain #fragments, which chromium prints as links inside the PDF (not as file:// URLs of the
# machine that built it); download links (a figure's SVG) lose their target, which paper cannot follow. The theme scrolls wide tables and long code lines sideways and caps tall outputs,
# which paper cannot do: PRINT_CSS lets them grow, wraps code, shrinks tables and fits figures to the page.
CHROMIUM ?= chromium
PDF := _build/pdf/book.pdf
ROOT_DOC := $(shell sed -n 's/^root: *//p' _toc.yml)
SINGLE_PAGE := _build/singlehtml/$(ROOT_DOC).html
PRINT_CSS := @media print { .pst-scrollable-table-container, .cell_output, .output, div.highlight, pre \
  { overflow: visible !important; max-height: none !important; } pre { white-space: pre-wrap !important; \
  overflow-wrap: anywhere; } table { zoom: 0.75; } th { overflow-wrap: anywhere; } td { overflow-wrap: anywhere; } \
  img { max-width: 100% !important; height: auto !important; } }
empty :=
UP_TO_BUILD := $(subst $(empty) $(empty),,$(foreach d,$(filter-out .,$(subst /, ,$(dir $(ROOT_DOC)))),../))
pdf: $(STAMP) system-deps
	@command -v $(CHROMIUM) >/dev/null 2>&1 || { echo "error: $(CHROMIUM) not found: install Debian's chromium \
	  (apt-get install chromium) or name another one, 'make pdf CHROMIUM=/path/to/chromium'"; exit 1; }
	@$(PY) -m ndic.book_inputs
	$(VENV)/bin/jupyter-book build . --builder singlehtml --warningiserror --nitpick --keep-going
	@grep -q '<base ' $(SINGLE_PAGE) || \
	  sed -i -e 's|<head>|<head><base href="./$(UP_TO_BUILD)"><style>$(PRINT_CSS)</style>|' \
	    -e 's|href="$(ROOT_DOC).html#|href="#|g' \
	    -e 's|\(<a class="reference download internal"\) download="" href="[^"]*">|\1>|g' \
	    $(SINGLE_PAGE)
	@mkdir -p $(dir $(PDF)) && rm -f $(PDF)
	@# chromium's own messages (D-Bus, GPU) go to a log, shown only when it fails
	$(CHROMIUM) --headless --no-sandbox --disable-gpu --no-pdf-header-footer --virtual-time-budget=60000 \
	  --print-to-pdf=$(PDF) file://$(CURDIR)/$(SINGLE_PAGE) 2>$(dir $(PDF))chromium.log \
	  || { tail -n 20 $(dir $(PDF))chromium.log; exit 1; }
	@test -s $(PDF) || { echo "error: chromium wrote no $(PDF); its messages: $(dir $(PDF))chromium.log"; exit 1; }
	@echo "==> $(PDF) ($$(du -h $(PDF) | cut -f1))"

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks $(JUPYTER_ROOT)

# Real photographs (Debian packages, scikit-image) and stereodemo's pairs for training; see data_prep/photos.py.
photos: $(STAMP)
	$(PY) -m data_prep.photos --packages $(PHOTO_PACKAGES)

clean:
	rm -rf _build .pytest_cache
