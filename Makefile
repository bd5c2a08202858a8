# One-command setup: `make venv`, `make test`, `make demo`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
EXAMPLE := examples/jpegai-eval-example-codec
STAMP := $(VENV)/.installed
# torch must come from PyPI: a local CPU-only wheel on find-links breaks torchvision.
PIP := PIP_FIND_LINKS= $(BIN)/python -m pip
DEMO_OUT ?= runs/demo

.PHONY: venv test test-fast lint demo clean

venv: $(STAMP)

$(STAMP): setup.cfg setup.py pyproject.toml jpegai_eval/codecs/_rans.c $(EXAMPLE)/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip setuptools wheel
	$(PIP) install --progress-bar off -e '.[tf,test]' -e $(EXAMPLE)
	touch $@

test: venv
	$(BIN)/python -m pytest -q

test-fast: venv
	$(BIN)/python -m pytest -q -m "not slow"

lint: venv
	$(BIN)/ruff check jpegai_eval tests benchmarks examples
	$(BIN)/ruff format --check jpegai_eval tests benchmarks examples
	$(BIN)/mypy
	$(BIN)/lint-imports

demo: venv
	$(BIN)/jpegai-eval run --codec hyperprior-msssim --task minc --dataset demo \
		--weights demo --preset quick --out $(DEMO_OUT)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
