# swr-tutor: `make book` builds the book, `make test` runs every test. Both set up .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
# This machine's CPU build of torch; on a GPU machine override, e.g. `make test TORCH=torch`.
TORCH  ?= torch==2.13.0
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell echo '$(TORCH)' | tr -c 'a-zA-Z0-9.\n' _)

.PHONY: setup book test test-fast sync clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[book,dev]"
	touch $@

# Executes every chapter (on the CPU here: Triton through its interpreter) and builds _build/html;
# any Sphinx warning fails the build.
book: setup
	rm -f _build/.book-built
	$(VENV)/bin/jupyter-book build . --all --warningiserror --keep-going
	touch _build/.book-built  # the browser test reuses a clean build newer than every source

# Unit and property tests, the built book's pages in Chromium, then every notebook top to bottom (nbval):
# the chapters and the appendix notebooks in book/. pytest's exit code 5 ("no tests collected") is not a
# failure of the code, so it is reported and passed on as success.
test: setup
	$(PY) -m pytest tests chapters book --nbval-lax --nbval-current-env -p no:cacheprovider -q \
	  || { rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc; }

# Unit tests only (no notebooks): the quick loop while writing code.
test-fast: setup
	$(PY) -m pytest tests -q -p no:cacheprovider -m "not slow"

# Regenerate every chapter's opening cells and strip outputs.
sync: setup
	$(PY) -m swr_tutor.chapters sync

clean:
	rm -rf _build $(VENV)
