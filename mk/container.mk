# Stages in the container or the venv, on the docker SDK runner (ppslim/container.py):
#   make ptq CONFIG=... O="Key=val ..." GPUS=0,1 RUNTIME=auto|docker|local
# RUNTIME=auto runs in docker when an engine answers, else locally, and logs which it chose.
# GPUS picks the gpu image (CPU runs use the cpu image); more than one id runs paddle.distributed.launch.
# BUILD=missing builds the image only when absent; `make image` rebuilds it (layers are cached;
# BUILD_FLAGS=--no-cache for a clean build).
##@ RUNTIME where stage targets run: auto (docker if an engine answers), docker or local
RUNTIME     ?= auto
##@ GPUS GPU ids for stage targets, e.g. GPUS=0,1 (empty = CPU; several = paddle.distributed.launch)
GPUS        ?=
##@ TARGET image flavour: gpu or cpu (follows GPUS)
TARGET      ?= $(if $(GPUS),gpu,cpu)
##@ IMAGE local image tag stage targets run in
IMAGE       ?= ppslim:$(TARGET)
##@ BUILD missing = build the image only when absent
BUILD       ?= missing
##@ BASE_IMAGE Paddle base image of `make image` (empty = the Dockerfile's default)
BASE_IMAGE  ?=
##@ PADDLE_CUDA CUDA major of the gpu image (12 for Hopper)
PADDLE_CUDA ?= 11
##@ DOCKER_NETWORK docker network of the build/run (empty = default)
DOCKER_NETWORK ?=
##@ BUILD_FLAGS extra `make image` flags, e.g. --no-cache
BUILD_FLAGS ?=
IMAGE_OPTS  = --image $(IMAGE) --target $(TARGET) --base-image "$(BASE_IMAGE)" --paddle-cuda $(PADDLE_CUDA) --network "$(DOCKER_NETWORK)"
stage       = $(PPSLIM) container run $(1) -c $(CONFIG) $(OVR) --gpus "$(GPUS)" --runtime $(RUNTIME) --build $(BUILD) $(IMAGE_OPTS)

.PHONY: image qat prune ptq lite

qat prune ptq lite: CONFIG = configs/digits/$@.yaml

image: $(VENV)/.stamp  ## build the ppslim image (TARGET=gpu|cpu, PADDLE_CUDA=12 for Hopper, BASE_IMAGE=...)
	$(PPSLIM) container build $(IMAGE_OPTS) $(BUILD_FLAGS)

qat: $(DATA)  ## quantization-aware training, in docker or locally (RUNTIME, GPUS)
	$(call stage,qat)

prune: $(DATA)  ## FPGM / L1-norm pruning + fine-tuning, in docker or locally
	$(call stage,prune)

ptq: $(DATA)  ## post-training static quantization of the exported model, in docker or locally
	$(call stage,ptq)

lite: $(DATA)  ## inference model -> Paddle Lite .nb, in docker or locally
	$(call stage,lite)
