# scangrade developer commands. `make demo` and `make test` set everything up themselves.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
WARM   := $(VENV)/.warm-stamp
OUT    ?= out

.PHONY: setup system-tools demo test lint eval bench train serve worker clean

setup: $(STAMP) system-tools $(WARM)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "scangrade needs Python >= 3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Byte-compiled modules, compiled preprocessing and the reader's CNNs in the caches on disk:
# the first grading after setup is as fast as any later one.
$(WARM): $(STAMP) $(wildcard model/weights/*.npz) model/inference/preprocess_kernels.py
	$(BIN)/python -m compileall -q api model scangrade worker
	$(BIN)/scangrade warm-up
	touch $(WARM)

system-tools:
	@bash scripts/ensure-system-tools.sh

## Grade the sample scans with the shipped model, in-process (no server).
demo: setup
	$(BIN)/scangrade grade samples/scans.pdf --layout samples/layout.yaml \
		--key samples/key.csv --roster samples/roster.csv --out $(OUT)

## The full test suite, as CI runs it.
test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## Accuracy figures (JSON): the digit reader, the scan pipeline, review decisions.
eval: setup
	$(BIN)/scangrade eval reader
	$(BIN)/scangrade eval pipeline --pages 300
	$(BIN)/scangrade eval grading --students 300

## Speed figures: reader crops/s, pipeline pages/s, service throughput.
bench: setup
	$(BIN)/scangrade bench reader
	$(BIN)/scangrade bench pipeline --pages 300
	$(BIN)/scangrade bench grade --students 300
	$(BIN)/scangrade bench service
	$(BIN)/scangrade bench recovery
	$(BIN)/scangrade bench review

## Retrain the digit reader's three CNNs from scratch (writes model/weights/; about 95 min on 2 cores).
train: setup
	$(BIN)/scangrade train --model full
	$(BIN)/scangrade train --model second
	$(BIN)/scangrade train --model screen

## The grading service on this machine: API + upload page, and a worker (Redis from settings).
serve: setup
	$(BIN)/scangrade serve

worker: setup
	$(BIN)/scangrade worker

clean:
	rm -rf $(OUT) .pytest_cache .ruff_cache
