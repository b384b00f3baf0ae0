# Two entry points for a fresh machine (only python3 and make needed):
#   make demo   - the end-to-end demo on the embedded defaults
#   make test   - lint, then the whole test suite (installs and starts what the tests need itself:
#                 a throwaway PostgreSQL, a single-node SLURM, pdflatex, headless Chromium)
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: demo test venv clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch/torchvision pinned to the releases available offline on these machines; the
	# project itself only states lower bounds.
	$(PY) -m pip install --quiet "torch==2.14.1" "torchvision==0.29.1" || $(PY) -m pip install --quiet torch torchvision
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/regseg demo --out demo_out

test: $(STAMP)
	$(VENV)/bin/ruff check .
	tools/ensure-pdflatex tools/ensure-chromium tools/with-postgres tools/with-slurm $(PY) -m pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) .regseg demo_out
