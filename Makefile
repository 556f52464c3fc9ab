# Common tasks. `make demo` and `make test` each set up .venv on a fresh machine first.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: install demo test lint format bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0   # first and pinned: a CPU machine must never resolve a multi-GB CUDA build
	$(PIP) install -q -e ".[test]"
	# Unsloth's real GRPO loss runs on a CPU (tests/test_unsloth_loss.py): the two packages without their GPU
	# dependencies, and the pure-Python ones they import
	$(PIP) install -q --no-deps unsloth==2026.10.9 unsloth_zoo==2026.10.9
	$(PIP) install -q wheel tyro protobuf sentencepiece hf_transfer json5 nest-asyncio structlog einops msgspec pillow requests
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/cuma-lite train --preset tiny-cpu --overwrite

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest -q

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

bench: install
	$(PY) scripts/bench_vote.py

clean:
	rm -rf $(VENV) runs build dist *.egg-info
