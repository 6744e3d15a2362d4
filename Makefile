# Two commands do all the set-up: `make demo` and `make test`. Both create or reuse .venv.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint types-baseline bench install system-deps up
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# torch from PyPI is the multi-GB CUDA build on Linux: without a visible NVIDIA GPU (no nvidia-smi) take the CPU
# build from PyTorch's index instead. Override it: `make TORCH_INDEX= install` (PyPI's default build), or a mirror.
TORCH_INDEX ?= $(if $(shell command -v nvidia-smi 2>/dev/null),,https://download.pytorch.org/whl/cpu)
PYTHON ?= python3

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Lookout needs Python 3.11 or newer; $(PYTHON) is $$($(PYTHON) -V 2>&1). Try make PYTHON=python3.12"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The demo prints its next commands as `.venv/bin/lookout ...` (or `lookout ...` once the venv is activated).
demo: $(STAMP)
	$(VENV)/bin/lookout demo

# The daemon and the Slack app together, as the Procfile describes them (needs lookout.toml). Without Slack tokens
# the Slack app says so and waits, and the daemon sends its alerts to the console.
up: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" PYTHONUNBUFFERED=1 $(VENV)/bin/honcho start

# mypy's errors must not grow: mypy-baseline.txt holds the known ones (shrink it with `make types-baseline`).
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy --no-error-summary | $(VENV)/bin/mypy-baseline filter --no-colors

types-baseline: $(STAMP)
	$(PY) -m mypy --no-error-summary | $(VENV)/bin/mypy-baseline sync

# The IMAP tests run a real dovecot and the workers' tests a real redis-server; install them from Debian's packages
# when they are missing.
system-deps:
	@[ -x /usr/sbin/dovecot ] || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq dovecot-imapd >/dev/null; }
	@[ -x /usr/bin/redis-server ] || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server >/dev/null; }

test: lint system-deps
	$(PY) -m pytest

# The benchmarks' extra packages (gensim, simplemma for bench/topics.py) are installed once, on demand.
BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(PY) bench/pipeline.py
