# ppslim images. `gpu` (the default, last stage) runs on NVIDIA CUDA 11.8 + cuDNN 8; `cpu` serves CPU
# clusters and CI. Both install a hash-pinned lock, so two builds of one revision hold the same packages.
#   make image                       # gpu, Volta..Ada (paddlepaddle-gpu 2.6.2 from PyPI: sm_61..sm_86)
#   make image PADDLE_CUDA=12        # gpu with Paddle's own CUDA 12.0 build, adds Hopper (sm_90)
#   make image TARGET=cpu
# Buildable by BuildKit and by the classic builder the docker SDK uses, hence no `RUN --mount`:
# pip settings and CA bundle (build/pip.conf, build/pip-ca.crt, optional) live only in the `deps-*` stages.

# Upstream nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04, pinned by digest (Ubuntu 22.04 ships Python 3.10).
ARG BASE_IMAGE=nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04@sha256:85fb7ac694079fff1061a0140fd5b5a641997880e12112d92589c3bbb1e8b7ca

FROM ${BASE_IMAGE} AS system
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The CUDA image has no Python: take Ubuntu's 3.10. A base that already has python3.10 (CI's
# debootstrap stand-in) skips apt. Versions come from the digest-pinned base's release, hence DL3008.
# hadolint ignore=DL3008
RUN command -v python3.10 >/dev/null \
    || { apt-get update \
         && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            python3.10 python3.10-venv libgomp1 libgl1 libglib2.0-0 ca-certificates \
         && rm -rf /var/lib/apt/lists/*; } \
    && groupadd --gid 1000 ppslim \
    && useradd --uid 1000 --gid 1000 --create-home --shell /bin/bash ppslim
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1

# ---- deps-* stages are thrown away: only they see the pip settings
FROM system AS deps-cpu
# pyproject.toml is listed so the instruction always has a source; the [f]/[t] globs match nothing
# when no pip settings were generated.
COPY pyproject.toml build/pip.con[f] build/pip-ca.cr[t] /build/
COPY requirements/cpu.lock.txt /build/
ENV PIP_CONFIG_FILE=/build/pip.conf
RUN python3.10 -m venv /opt/venv \
    && pip install --no-cache-dir --require-hashes --no-deps -r /build/cpu.lock.txt \
    && pip check

# ---- cpu image: dependencies first, then the code (a code change rebuilds only the last layers)
FROM system AS cpu
COPY --from=deps-cpu /opt/venv /opt/venv
COPY pyproject.toml README.m[d] /src/
COPY ppslim /src/ppslim
RUN pip install --no-cache-dir --no-index --no-deps --no-build-isolation /src && rm -rf /src
ARG GIT_REVISION=unknown
ARG LOCK_SHA256=unknown
LABEL org.opencontainers.image.title="ppslim" org.opencontainers.image.variant="cpu" \
      org.opencontainers.image.revision="${GIT_REVISION}" io.ppslim.lock.sha256="${LOCK_SHA256}"
USER 1000:1000
WORKDIR /workspace
ENTRYPOINT ["ppslim"]

# ---- gpu: after `cpu` because the classic builder builds every stage before the target
FROM system AS deps-gpu
# 11: the locked PyPI wheel (CUDA 11.8). 12: Paddle's CUDA 12.0 build of the same version from
# Paddle's index (not in the lock, so not hash-checked); pair it with a CUDA 12 BASE_IMAGE.
ARG PADDLE_CUDA=11
ARG PADDLE_CUDA12_INDEX=https://www.paddlepaddle.org.cn/packages/stable/cu120/
ARG PADDLE_CUDA12_VERSION=2.6.2.post120
COPY pyproject.toml build/pip.con[f] build/pip-ca.cr[t] /build/
COPY requirements/gpu.lock.txt /build/
ENV PIP_CONFIG_FILE=/build/pip.conf
RUN python3.10 -m venv /opt/venv \
    && if [ "$PADDLE_CUDA" = 12 ]; then \
         awk '/^paddlepaddle-gpu==/ {skip = 1; next} /^[^ #]/ {skip = 0} !skip' /build/gpu.lock.txt > /build/lock.txt \
         && pip install --no-cache-dir --require-hashes --no-deps -r /build/lock.txt \
         && pip install --no-cache-dir --no-deps --index-url "$PADDLE_CUDA12_INDEX" "paddlepaddle-gpu==$PADDLE_CUDA12_VERSION"; \
       else pip install --no-cache-dir --require-hashes --no-deps -r /build/gpu.lock.txt; fi \
    && pip check

FROM system AS gpu
COPY --from=deps-gpu /opt/venv /opt/venv
COPY pyproject.toml README.m[d] /src/
COPY ppslim /src/ppslim
RUN pip install --no-cache-dir --no-index --no-deps --no-build-isolation /src && rm -rf /src
ARG GIT_REVISION=unknown
ARG LOCK_SHA256=unknown
ARG PADDLE_CUDA=11
LABEL org.opencontainers.image.title="ppslim" org.opencontainers.image.variant="gpu-cuda${PADDLE_CUDA}" \
      org.opencontainers.image.revision="${GIT_REVISION}" io.ppslim.lock.sha256="${LOCK_SHA256}"
USER 1000:1000
WORKDIR /workspace
ENTRYPOINT ["ppslim"]
