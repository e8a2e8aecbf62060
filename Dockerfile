# syntax=docker/dockerfile:1.7
# The code location image for Kubernetes (deploy/helm/values.yaml, docs/deploy.md): the
# pipeline, its locked dependencies (the same `make venv` as CI) and the system packages,
# on NVIDIA's CUDA runtime base. torch's CUDA 13 libraries come from the lock's nvidia-*
# wheels; the node's driver comes in through the NVIDIA container toolkit.
#
#   docker build -t registry.example.com/tiktok-analyzer:0.1.0 .
#
# Model weights are not in the image: mount the model home at /models (the chart's values
# mount the `tiktok-models` volume there; `tiktok-analyzer models pull NAME` fills it).
ARG CUDA_IMAGE=nvidia/cuda:13.0.0-runtime-ubuntu24.04
FROM ${CUDA_IMAGE}

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    UV_PYTHON_INSTALL_DIR=/opt/python \
    UV_LINK_MODE=copy \
    TIKTOK_MODEL_HOME=/models \
    TIKTOK_DATA=/data \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    PATH=/opt/venv/bin:$PATH

WORKDIR /app

# make, a Python to bootstrap uv, and ffmpeg/espeak-ng through the same script `make demo` uses
COPY scripts/install_system_deps.sh scripts/install_system_deps.sh
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends make python3 python3-venv ca-certificates \
 && bash scripts/install_system_deps.sh \
 && rm -rf /var/lib/apt/lists/*

# Python 3.11, the version requirements.lock was resolved for
RUN python3 -m venv /opt/uv && /opt/uv/bin/pip install -q uv==0.13.8 \
 && /opt/uv/bin/uv python install 3.11

# the code, then the venv exactly as CI builds it (lock file + the Makefile's no-deps extras);
# the uv cache mount makes a rebuild after a code change reuse the downloaded wheels
COPY . .
RUN --mount=type=cache,target=/root/.cache/uv \
    make venv VENV=/opt/venv PYTHON="$(/opt/uv/bin/uv python find 3.11)" \
 && mkdir -p /models /data "$DAGSTER_HOME"

VOLUME ["/models"]
EXPOSE 3030
# the chart passes its own `dagster api grpc` arguments; this default serves the same thing
CMD ["dagster", "api", "grpc", "-m", "tiktok_assets.k8s", "-a", "defs", "-h", "0.0.0.0", "-p", "3030"]
