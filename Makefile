# The two commands of the README (`make book`, `make test`) and `make bench`.
# Each target creates the virtual environment in .venv and installs into it on first use.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: book test unit check-book notebooks bench lint browser-deps serve clean pdf pdf-deps check-pdf \
        colab-check

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

## Execute every notebook and write the HTML book to _build/html (strict: warnings fail).
## The execution cache is keyed on the notebooks' code only, so it is cleared when ibcore changes.
IBCORE_SRC := $(shell find ibcore -name '*.py' 2>/dev/null)
_build/.ibcore-stamp: $(IBCORE_SRC)
	rm -rf _build/.jupyter_cache
	@mkdir -p _build && touch $@

## Notebooks run once, $(JOBS) at a time, into the cache the build reads (_ext/execute.py); the
## build itself then executes nothing. Ends with the table of per-notebook execution seconds.
JOBS ?= 2
book: $(STAMP) _build/.ibcore-stamp
	$(PY) _ext/execute.py --jobs $(JOBS)
	$(VENV)/bin/jupyter-book build . -W -n --keep-going
	@$(PY) _ext/execute.py --report

## Unit tests of ibcore, then every notebook executed in place with nbval ($(JOBS) at a time).
test: unit notebooks

unit: $(STAMP)
	$(PY) -m pytest tests --ignore=tests/test_built_book.py --ignore=tests/test_colab.py

## The built pages (after `make book`) in headless Chromium, served over http.
check-book: $(STAMP)
	$(PY) -m pytest -q tests/test_built_book.py -p no:cacheprovider

notebooks: $(STAMP)
	$(PY) -m pytest -n $(JOBS) --dist loadfile --nbval-lax --nbval-current-env book/

## Per-step time of ibcore versus torch on the book's models: every benchmarks/bench_*.py in turn,
## single-threaded by default as the chapters run (override: make bench BENCH_ARGS=).
BENCH_ARGS ?= --threads 1
bench: $(STAMP)
	@set -e; for f in benchmarks/bench_*.py; do echo "== $$f"; $(PY) $$f $(BENCH_ARGS); done

lint: $(STAMP)
	$(VENV)/bin/ruff check .

## Debian's Chromium for the browser test of the interactive figures (needs root and apt).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium)

## The PDF edition, _build/latex/book.pdf: the same execution cache as `make book` (so nothing
## executes again after it), Sphinx's LaTeX builder, XeLaTeX via latexmk. Needs `make pdf-deps`.
pdf: $(STAMP) _build/.ibcore-stamp
	$(PY) _ext/execute.py --jobs $(JOBS)
	$(VENV)/bin/jupyter-book build . --builder pdflatex -W -n --keep-going
	@test -f _build/latex/book.pdf && echo "pdf: _build/latex/book.pdf"

## The PDF's test (page count, titles, a glued number, no missing glyph or undefined reference).
check-pdf: $(STAMP)
	$(PY) -m pytest -q tests/test_pdf.py -p no:cacheprovider

## Debian's LaTeX for `make pdf` (needs root and apt; about 400 MB): XeLaTeX, latexmk, the
## LaTeX packages Sphinx uses, the FreeFont and Latin Modern fonts, poppler (pdftotext).
PDF_DEPS := latexmk texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended \
            texlive-xetex fonts-freefont-otf lmodern tex-gyre poppler-utils
pdf-deps:
	@command -v xelatex >/dev/null 2>&1 && command -v pdftotext >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	   apt-get install -y -qq --no-install-recommends $(PDF_DEPS))

## The Colab path: a clean environment with only Colab's preinstalled packages, the first cell
## installing ibcore from this checkout (IBCORE_SOURCE), then the whole notebook (tests/test_colab.py).
NB ?= book/posts/01-numbers-and-meaning.ipynb
colab-check: $(STAMP)
	COLAB_NOTEBOOKS="$(NB)" $(PY) -m pytest -q tests/test_colab.py -p no:cacheprovider

## Serve the built book at http://localhost:8000 (search needs http; file:// blocks its index).
PORT ?= 8000
serve:
	$(PY) -m http.server -d _build/html $(PORT)

clean:
	rm -rf _build .pytest_cache
