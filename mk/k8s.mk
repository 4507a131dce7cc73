# Runs on Kubernetes (ppslim/k8s.py; walkthrough in k8s/README.md). The shared claims come from
# `kubectl apply -k k8s/volumes` (once); a rendered file holds only the job's own objects.
#   make k8s-render STAGE=qat NNODES=2 GPUS_PER_NODE=1 K8S_IMAGE=registry.example.com/ppslim:gpu
#   make k8s-render STAGE=ptq NNODES=1 GPUS_PER_NODE=0 K8S_IMAGE=registry.example.com/ppslim:cpu
#   make k8s-apply  STAGE=qat NNODES=2 K8S_IMAGE=...   # needs kubectl and a configured cluster
# CONFIG defaults to the stage's digits config; O="Key=val ..." overrides it as for every stage.
##@ STAGE k8s stage: train qat prune (NNODES pods) or ptq export eval (one pod)
STAGE         ?= qat
##@ NNODES pods of a train/qat/prune job (ptq/export/eval: 1)
NNODES        ?= $(if $(filter ptq export eval,$(STAGE)),1,2)
##@ GPUS_PER_NODE GPUs per pod (0 = CPU)
GPUS_PER_NODE ?= 1
##@ K8S_IMAGE (required) image the cluster can pull, e.g. registry.example.com/ppslim:gpu
K8S_IMAGE     ?=
##@ K8S_CPU CPU request per pod
K8S_CPU       ?= 4
##@ K8S_MEMORY memory request and limit per pod
K8S_MEMORY    ?= 16Gi
##@ K8S_SHM in-memory /dev/shm per pod
K8S_SHM       ?= 4Gi
##@ K8S_FLAGS more render flags: --node-selector K=V --toleration K=V:NoSchedule --image-pull-secret S --priority-class P
K8S_FLAGS     ?=
##@ K8S_CONFIG config (default: the stage's digits config)
K8S_CONFIG    ?= $(or $(wildcard configs/digits/$(STAGE).yaml),configs/digits/train.yaml)
##@ K8S_OUT where the manifest is written
K8S_OUT       ?= output/k8s/ppslim-$(STAGE).yaml
##@ K8S_VERSION Kubernetes version k8s-validate checks against
K8S_VERSION   ?= 1.30.0
K8S_RUN        = --stage $(STAGE) --nnodes $(NNODES) --gpus-per-node $(GPUS_PER_NODE) --image=$(K8S_IMAGE) \
                 --cpu $(K8S_CPU) --memory $(K8S_MEMORY) --shm-size $(K8S_SHM) $(K8S_FLAGS)
K8S_OPTS       = $(K8S_RUN) -c $(K8S_CONFIG) $(OVR) --out $(K8S_OUT)

.PHONY: k8s-render k8s-validate k8s-apply

k8s-render: $(VENV)/.stamp  ## Kubernetes ConfigMap + Service + Job for STAGE (claims: k8s/volumes) -> K8S_OUT
	$(PPSLIM) k8s render $(K8S_OPTS)

k8s-validate: k8s-render  ## schema-check the rendered manifests offline (kubernetes-validate --strict)
	$(VENV)/bin/kubernetes-validate --strict -k $(K8S_VERSION) $(K8S_OUT)

k8s-apply: $(VENV)/.stamp  ## render, then kubectl apply -f K8S_OUT (one-line error without kubectl or cluster)
	$(PPSLIM) k8s apply $(K8S_OPTS)
