# Multi-node runs on Kubernetes (ppslim/k8s.py; walkthrough in k8s/README.md):
#   make k8s-render STAGE=qat NNODES=2 GPUS_PER_NODE=1 K8S_IMAGE=registry.example.com/ppslim:gpu
#   make k8s-apply  STAGE=qat NNODES=2        # needs kubectl and a configured cluster
# CONFIG defaults to the stage's digits config; O="Key=val ..." overrides it as for every stage.
STAGE         ?= qat
NNODES        ?= 2
GPUS_PER_NODE ?= 1
K8S_IMAGE     ?= ppslim:gpu
K8S_CONFIG    ?= configs/digits/$(STAGE).yaml
K8S_OUT       ?= output/k8s/ppslim-$(STAGE).yaml
K8S_VERSION   ?= 1.30.0
K8S_RUN        = --stage $(STAGE) --nnodes $(NNODES) --gpus-per-node $(GPUS_PER_NODE) --image $(K8S_IMAGE)
K8S_OPTS       = $(K8S_RUN) -c $(K8S_CONFIG) $(OVR) --out $(K8S_OUT)

.PHONY: k8s-render k8s-validate k8s-apply

k8s-render: $(VENV)/.stamp  ## Kubernetes Job + Service + ConfigMap + PVCs for STAGE on NNODES pods -> K8S_OUT
	$(PPSLIM) k8s render $(K8S_OPTS)

k8s-validate: k8s-render  ## schema-check the rendered manifests offline (kubernetes-validate --strict)
	$(VENV)/bin/kubernetes-validate --strict -k $(K8S_VERSION) $(K8S_OUT)

k8s-apply: $(VENV)/.stamp  ## render, then kubectl apply -f K8S_OUT (one-line error without kubectl or cluster)
	$(PPSLIM) k8s apply $(K8S_OPTS)
