# lstmlab: `make run` and `make test` set everything up themselves.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Extra arguments for lstmlab, e.g. make run ARGS="seed=3 model.units=50"
ARGS   ?=
UI_PORT ?= 5000
# Preset targets: SEEDS=5 repeats every configuration over seeds 0..4 (as one sweep);
# LAUNCHER=joblib runs a sweep's jobs in parallel local processes, LAUNCHER=basic one by one.
SEEDS    ?= 1
LAUNCHER ?= joblib
SWEEP    := 'seed=range(0,$(SEEDS))' hydra/launcher=$(LAUNCHER) tracking.report=true
# Single-run presets become a sweep only when asked for more than one seed.
MAYBE_SWEEP = $(if $(filter-out 1,$(SEEDS)),-m $(SWEEP))
REPORT_ARGS ?= --smooth 10

.PHONY: install run test test-fast lint docs docs-serve archive-benchmark ui clean clean-store bench report system-deps \
        seed-bulk-bilstm seed-online-lstm seed-online-bilstm compare-directions \
        compare-merge-modes echo claim-directions claim-merge-modes echo-solved inspect \
        uea-japanese-vowels uea-basic-motions compare-cells serve doctor sync \
        airline airline-tutorial shampoo shampoo-tutorial forecasting claim-lstm-fcn archive-rocket

install: $(STAMP)

# Re-installs only when the dependency pins change; a second `make install` is a no-op.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,ray,uea,auth,postgres,docs]"
	@# Their pins (optuna<3, cloudpickle<3) contradict the rest; see pyproject.toml.
	$(BIN)/python -m pip install --quiet --no-deps hydra-optuna-sweeper==1.3.0 hydra-ray-launcher==1.2.2
	touch $@

run: install
	$(BIN)/lstmlab $(ARGS)

# Two pytest workers: most end-to-end tests wait on a subprocess or a server, so one core idles
# without them. TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2

test: install system-deps
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal --durations=25

# Debian's Chromium, for the test that renders the MLflow UI (tests/test_server.py), iproute2,
# for the Ray test's network namespace (tests/test_ray.py), and PostgreSQL's server binaries, for
# the test that backs an MLflow server with a cluster of its own (tests/test_postgres.py).
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v ip >/dev/null 2>&1 || missing="$$missing iproute2"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing (for the UI, Ray and PostgreSQL tests)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# Everything but the end-to-end CLI runs.
test-fast: install
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal -m "not slow"

lint: install
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

# Every classification set aeon ships x the model families x 5 seeds, each family with its
# paper's recipe, beside the published figures (docs/sweeps.md, "The archive benchmark").
archive-benchmark: install
	$(BIN)/lstmlab experiment=archive_benchmark $(ARGS)

# ROCKET (random kernels, a ridge head in closed form) on the two regression sets aeon ships x
# ROCKET_SEEDS seeds, with its report (docs/results.md: Covid3Month's <= 0.040 goal).
ROCKET_SEEDS ?= 5
archive-rocket: install
	$(BIN)/lstmlab -m experiment=archive_rocket dataset.name=Covid3Month,CardanoSentiment 'seed=range(0,$(ROCKET_SEEDS))' tracking.report=true $(ARGS)

# FCN against LSTM-FCN with and without its dimension shuffle, every shipped set x 5 seeds,
# paired by set and seed (docs/sweeps.md, "The recurrent branch's claim").
claim-lstm-fcn: install
	$(BIN)/lstmlab experiment=claim_lstm_fcn $(ARGS)

# The handbook (docs/, mkdocs.yml): strict, so a broken link or a page left out of the
# navigation fails the build.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

DOCS_PORT ?= 8000
docs-serve: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --strict --dev-addr 127.0.0.1:$(DOCS_PORT)

ui: install
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --host 127.0.0.1 --port $(UI_PORT)

seed-bulk-bilstm: install
	$(BIN)/lstmlab $(MAYBE_SWEEP) experiment=seed_bulk_bilstm $(ARGS)

seed-online-lstm: install
	$(BIN)/lstmlab $(MAYBE_SWEEP) experiment=seed_online_lstm $(ARGS)

seed-online-bilstm: install
	$(BIN)/lstmlab $(MAYBE_SWEEP) experiment=seed_online_bilstm $(ARGS)

echo: install
	$(BIN)/lstmlab $(MAYBE_SWEEP) experiment=echo $(ARGS)

# The comparison sweeps; each ends with its report (figure with 95% bands, CSVs, table).
compare-directions: install
	$(BIN)/lstmlab experiment=compare_directions $(SWEEP) $(ARGS)

compare-merge-modes: install
	$(BIN)/lstmlab experiment=compare_merge_modes $(SWEEP) $(ARGS)

# The tutorials' claims over seeds (10 by default; CLAIM_SEEDS=20 for more), ending with the
# verdicts.
CLAIM_SEEDS ?= 10
claim-directions: install
	$(BIN)/lstmlab experiment=claim_directions 'seed=range(0,$(CLAIM_SEEDS))' hydra/launcher=$(LAUNCHER) $(ARGS)

claim-merge-modes: install
	$(BIN)/lstmlab experiment=claim_merge_modes 'seed=range(0,$(CLAIM_SEEDS))' hydra/launcher=$(LAUNCHER) $(ARGS)

echo-solved: install
	$(BIN)/lstmlab $(MAYBE_SWEEP) experiment=echo_solved $(ARGS)

# Recorded data: UEA archive sets shipped with aeon (SEEDS=5 for the README's results table).
uea-japanese-vowels: install
	$(BIN)/lstmlab $(MAYBE_SWEEP) experiment=uea_japanese_vowels $(ARGS)

uea-basic-motions: install
	$(BIN)/lstmlab $(MAYBE_SWEEP) experiment=uea_basic_motions $(ARGS)

# Forecasting (docs/forecasting.md): the two tutorials as written and lstmlab's forecasters,
# each run beside the naive, seasonal naive and drift baselines; `make forecasting` runs all
# four over FORECAST_SEEDS seeds (5) as one sweep with its report (the README's table).
FORECAST_SEEDS ?= 5
FORECASTS := airline_tutorial,airline,shampoo_tutorial,shampoo
airline: install
	$(BIN)/lstmlab $(MAYBE_SWEEP) experiment=airline $(ARGS)

airline-tutorial: install
	$(BIN)/lstmlab $(MAYBE_SWEEP) experiment=airline_tutorial $(ARGS)

shampoo: install
	$(BIN)/lstmlab $(MAYBE_SWEEP) experiment=shampoo $(ARGS)

shampoo-tutorial: install
	$(BIN)/lstmlab $(MAYBE_SWEEP) experiment=shampoo_tutorial $(ARGS)

forecasting: install
	$(BIN)/lstmlab -m experiment=$(FORECASTS) 'seed=range(0,$(FORECAST_SEEDS))' hydra/launcher=$(LAUNCHER) tracking.report=true $(ARGS)

# Cell x depth on JapaneseVowels over seeds 0..4 (the preset sets the seeds), with its report.
compare-cells: install
	$(BIN)/lstmlab experiment=compare_cells hydra/launcher=$(LAUNCHER) $(ARGS)

inspect: install
	$(BIN)/lstmlab-inspect $(ARGS)

# End the runs a dead process (SIGKILL, OOM kill, lost node) left RUNNING in the default store:
# make doctor ARGS="--dry-run" (or --uri http://host:5000 --stale-after 30).
doctor: install
	$(BIN)/lstmlab-doctor $(ARGS)

# Send what runs kept on disk while their tracking store was away (lstmlab-sync).
sync: install
	$(BIN)/lstmlab-sync $(ARGS)

# Serve a registered model from the default store: make serve MODEL=models:/NAME@champion
# (lstmlab-register makes one). The venv's bin goes first on PATH: MLflow starts uvicorn from it.
MODEL ?=
SERVE_PORT ?= 5001
serve: install
	@test -n "$(MODEL)" || { echo "make serve MODEL=models:/<name>@champion"; exit 2; }
	PATH=$(CURDIR)/$(BIN):$$PATH MLFLOW_TRACKING_URI=sqlite:///$(CURDIR)/mlflow.db \
	  $(BIN)/mlflow models serve -m $(MODEL) --env-manager local -h 127.0.0.1 -p $(SERVE_PORT)

# The report of the latest sweep (REPORT_ARGS="--sweep <parent run id>" for another).
report: install
	$(BIN)/lstmlab-report $(REPORT_ARGS)

# Run outputs and caches; the MLflow store (mlflow.db, mlartifacts/) is kept: `make clean-store`.
clean:
	rm -rf outputs multirun/*/ reports test-artifacts .pytest_cache .ruff_cache build dist src/*.egg-info
	find . -name __pycache__ -type d -prune -not -path "./$(VENV)/*" -exec rm -rf {} +

clean-store:
	rm -rf mlflow.db mlruns mlartifacts

# Plain Keras (the tutorials' way) vs lstmlab on the same work, what a run costs around its
# training, and the floor under each speed goal; ~15 minutes on 2 cores. Writes what it prints
# to docs/bench/latest.md, the table the handbook's Speed page shows.
bench: install
	$(BIN)/python benchmarks/bench.py
