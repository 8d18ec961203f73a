# Every target builds its own virtualenv, so a fresh clone needs nothing but python3.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pip byte-compiles a package it installs; an editable install where PYTHONDONTWRITEBYTECODE is
# set never writes .pyc files, so every run would compile each module again (~0.05 s of start-up).
COMPILE := $(BIN)/python -m compileall -q oom_enricher

.PHONY: demo test lint format bench bench-reports bench-readers bench-forward bench-es bench-k8s bench-kafka clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(COMPILE)
	touch $(STAMP)

SAMPLES := oom_enricher/samples

demo: $(STAMP)
	@echo '$$ oom-enricher explain $(SAMPLES)/seed-docker-beam.log'
	@$(BIN)/oom-enricher explain $(SAMPLES)/seed-docker-beam.log
	@echo
	@echo '$$ oom-enricher parse $(SAMPLES)/fleet-interleaved.log  # key fields:'
	@$(BIN)/oom-enricher parse $(SAMPLES)/fleet-interleaved.log | $(BIN)/python scripts/demo-summary
	@echo
	@echo 'The documents themselves, as JSON Lines (one per report; --pretty indents them):'
	@echo '  $(BIN)/oom-enricher parse $(SAMPLES)/fleet-interleaved.log'
	@echo '  $(BIN)/oom-enricher parse --pretty $(SAMPLES)/seed-docker-beam.log'

test: $(STAMP)
	scripts/install-system-deps
	$(BIN)/ruff check oom_enricher tests bench
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check oom_enricher tests bench
	$(BIN)/ruff format --check oom_enricher tests bench

format: $(STAMP)
	$(BIN)/ruff format oom_enricher tests bench

bench: $(STAMP)
	$(COMPILE)
	$(BIN)/python -m bench.parse_cli

bench-reports: $(STAMP)
	$(COMPILE)
	$(BIN)/python -m bench.parse_per_report

bench-readers: $(STAMP)
	$(COMPILE)
	$(BIN)/python -m bench.parse_throughput

bench-forward: $(STAMP)
	$(COMPILE)
	$(BIN)/python -m bench.forward_ingest

bench-k8s: $(STAMP)
	$(BIN)/python -m bench.k8s_names

bench-es: $(STAMP)
	$(BIN)/python -m bench.es_ship
	$(BIN)/python -m bench.es_backfill

bench-kafka: $(STAMP)
	$(BIN)/python -m bench.kafka_workers

clean:
	rm -rf $(VENV) .pytest_cache
