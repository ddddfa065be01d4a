# lstmlab: `make run` and `make test` set everything up themselves.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Extra arguments for lstmlab, e.g. make run ARGS="seed=3 model.units=50"
ARGS   ?=
UI_PORT ?= 5000

.PHONY: install run test test-fast lint ui clean clean-store bench \
        seed-bulk-bilstm seed-online-lstm seed-online-bilstm compare-directions \
        compare-merge-modes echo

install: $(STAMP)

# Re-installs only when the dependency pins change; a second `make install` is a no-op.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

run: install
	$(BIN)/lstmlab $(ARGS)

test: install
	$(BIN)/python -m pytest

# Everything but the end-to-end CLI runs.
test-fast: install
	$(BIN)/python -m pytest -m "not slow"

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

ui: install
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --host 127.0.0.1 --port $(UI_PORT)

seed-bulk-bilstm: install
	$(BIN)/lstmlab experiment=seed_bulk_bilstm $(ARGS)

seed-online-lstm: install
	$(BIN)/lstmlab experiment=seed_online_lstm $(ARGS)

seed-online-bilstm: install
	$(BIN)/lstmlab experiment=seed_online_bilstm $(ARGS)

compare-directions: install
	$(BIN)/lstmlab experiment=compare_directions $(ARGS)

compare-merge-modes: install
	$(BIN)/lstmlab experiment=compare_merge_modes $(ARGS)

echo: install
	$(BIN)/lstmlab experiment=echo $(ARGS)

# Run outputs and caches; the MLflow store (mlflow.db, mlartifacts/) is kept: `make clean-store`.
clean:
	rm -rf outputs multirun/*/ .pytest_cache .ruff_cache build dist src/*.egg-info
	find . -name __pycache__ -type d -prune -not -path "./$(VENV)/*" -exec rm -rf {} +

clean-store:
	rm -rf mlflow.db mlruns mlartifacts

# Plain Keras (the tutorials' way) vs lstmlab on the same work; ~6 minutes on 2 cores.
bench: install
	$(BIN)/python benchmarks/bench.py
