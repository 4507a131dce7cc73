# ppslim: one line per target; logic lives in ppslim/ and scripts/*.py, never in shell.
# Stage targets run in docker or the venv (RUNTIME/GPUS/image: mk/container.mk); k8s in mk/k8s.mk.
SHELL := /bin/bash
.DEFAULT_GOAL := help
##@ VENV virtualenv the targets run in
VENV    ?= .venv
##@ LOCK hash-pinned requirements the venv is built from
LOCK    ?= requirements/cpu.lock.txt
PY      := $(VENV)/bin/python
PPSLIM  := $(PY) -m ppslim
##@ CONFIG config of train/eval/export/infer (qat, prune, ptq, lite: configs/digits/<target>.yaml)
CONFIG  ?= configs/digits/train.yaml
##@ O config overrides, e.g. O="Global.epochs=3 Slim.ptq.algo=avg"
O       ?=
OVR     := $(addprefix -o ,$(O))
DATA    := dataset/digits/train_list.txt
DATA_HARD := dataset/digits_hard/train_list.txt
##@ PYTEST_ARGS extra pytest arguments for test/test-fast, e.g. PYTEST_ARGS="-k ptq -x"
PYTEST_ARGS ?=
UV_COMPILE = $(VENV)/bin/uv pip compile pyproject.toml --generate-hashes --python-version 3.10 --python-platform x86_64-manylinux_2_28 --quiet

.PHONY: help venv data demo pipeline infer check train eval export bench test test-fast lock clean

# Variables documented by a `##@ NAME text` line above them; help prints each with its current value.
HELP_VARS = $(shell sed -nE 's/^##@ ([A-Z0-9_]+) .*/\1/p' $(MAKEFILE_LIST))

help:  ## list targets, then the variables they read with their defaults
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | column -t -s $$'\t'
	@printf '\nVariables (make <target> NAME=value), default in []:\n'
	@$(foreach v,$(HELP_VARS),printf '  %-14s %-28s %s\n' '$(v)' '[$($(v))]' "$$(sed -nE 's/^##@ $(v) //p' $(MAKEFILE_LIST))";)

$(VENV)/.stamp: $(LOCK) pyproject.toml scripts/bootstrap.py
	python3 scripts/bootstrap.py $(VENV) $(LOCK)
	touch $@

venv: $(VENV)/.stamp  ## create .venv from the hash-pinned CPU lock

$(DATA): | $(VENV)/.stamp
	$(PPSLIM) data digits --out dataset/digits

$(DATA_HARD): | $(VENV)/.stamp
	$(PPSLIM) data digits --val-fraction 0.75 --out dataset/digits_hard

data: $(DATA) $(DATA_HARD)  ## write the scikit-learn digits as PNGs in ImageNetDataset layout (default and harder split)

demo: $(DATA)  ## the main job on the digits default: train -> export -> PTQ/QAT/prune -> Lite -> eval table
	$(PPSLIM) pipeline -c configs/digits/pipeline.yaml $(OVR)

pipeline: demo  ## same as demo: every stage on configs/digits/pipeline.yaml, one summary table

infer: $(DATA)  ## predict Infer.infer_imgs with any artifact (Global.inference_model_dir or a checkpoint)
	$(PPSLIM) infer -c $(CONFIG) $(OVR)

check: $(VENV)/.stamp  ## validate CONFIG (PaddleClas's own files too) without running it; print the plan
	$(PPSLIM) check -c $(CONFIG) $(OVR)

train: $(DATA)  ## FP32 baseline
	$(call stage,train)

export: $(DATA)  ## checkpoint -> verified Paddle inference model
	$(call stage,export)

eval: $(DATA)  ## score a checkpoint / inference model / .nb
	$(call stage,eval)

bench: $(DATA) $(DATA_HARD)  ## measured proof: accuracy/latency tables + plot in bench/
	$(PPSLIM) bench -c configs/digits/bench.yaml $(OVR)

test: $(VENV)/.stamp  ## all tests: unit + real end-to-end stages on the digits data
	$(PY) -m pytest tests $(PYTEST_ARGS)

test-fast: $(VENV)/.stamp  ## unit tests only, for the edit loop
	$(PY) -m pytest tests/unit -m "not e2e" $(PYTEST_ARGS)

lock: $(VENV)/.stamp  ## regenerate both hash-pinned locks from pyproject.toml with uv
	$(UV_COMPILE) --extra cpu --extra build --extra dev -o requirements/cpu.lock.txt
	$(UV_COMPILE) --extra gpu --extra build -o requirements/gpu.lock.txt

clean:  ## remove outputs (keeps .venv)
	rm -rf output inference dataset bench

-include mk/*.mk
