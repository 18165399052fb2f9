# Two commands on a fresh machine:  make demo   (the whole loop)   and   make test
PY ?= python3
# auto: cuda when nvidia-smi sees a GPU here; `make venv DEVICE=cuda` on a login node that has none.
DEVICE ?= auto
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test test-fast clean

venv: $(STAMP)

$(STAMP): pyproject.toml requirements/cpu.lock requirements/cuda.lock scripts/install.sh
	PY=$(PY) VENV=$(VENV) bash scripts/install.sh --device $(DEVICE)
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/uchi demo

test: $(STAMP)
	$(BIN)/python -m pytest tests

test-fast: $(STAMP)
	$(BIN)/python -m pytest tests -m "not slow and not vllm"

clean:
	rm -rf $(VENV) build *.egg-info
