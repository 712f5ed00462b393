# syntax=docker/dockerfile:1
# The MIRAGE engine on a GPU: FastAPI + open_clip/transformers/diffusers, models from the HF cache volume.
#
#   docker build -f deploy/docker/engine.Dockerfile -t mirage-engine:0.1.0 .
#   docker run --gpus all -p 8700:8700 -e MIRAGE_ENGINE_TOKEN=... \
#       -v mirage-hf:/data/hf -v mirage-data:/data/mirage mirage-engine:0.1.0
#
# The torch wheels bring their own CUDA 13 libraries; the base image is the CUDA 13 runtime of the same
# major version so the driver floor it declares (NVIDIA_REQUIRE_CUDA) matches what torch needs.
ARG CUDA_IMAGE=nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04

# 1. build: a virtual environment with the engine extra, from the pinned constraints only
FROM ${CUDA_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/mirage
WORKDIR /src
# torch first, in its own layer: the largest download changes least often
COPY deploy/constraints.txt deploy/constraints.txt
RUN /opt/mirage/bin/pip install -c deploy/constraints.txt torch torchvision
COPY pyproject.toml README.md ./
COPY engine engine
RUN /opt/mirage/bin/pip install -c deploy/constraints.txt ".[engine]"

# 2. run: the same base without build tools, the venv copied in, a non-root user
FROM ${CUDA_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin mirage \
 && mkdir -p /data/hf /data/mirage \
 && chown -R mirage:mirage /data
COPY --from=build /opt/mirage /opt/mirage
ENV PATH=/opt/mirage/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HOME=/data/hf \
    MIRAGE_DATA_DIR=/data/mirage \
    MIRAGE_PORT=8700
# model weights (seed once with `python -m engine prefetch`) and the atlas/model caches outlive the container
VOLUME ["/data/hf", "/data/mirage"]
USER 10001:10001
WORKDIR /home/mirage
EXPOSE 8700
# Ready = models and atlas loaded. The first start downloads several GB of weights (unless the HF
# volume was seeded), hence the long start period; afterwards /readyz answers within a second.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10m --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8700/readyz', timeout=4).status != 200)"]
# Listening beyond loopback needs MIRAGE_ENGINE_TOKEN (the engine refuses to start without it).
CMD ["python", "-m", "engine", "serve", "--host", "0.0.0.0"]
