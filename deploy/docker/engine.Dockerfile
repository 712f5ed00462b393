# syntax=docker/dockerfile:1
# The MIRAGE engine on a GPU: FastAPI + open_clip/transformers/diffusers, models from the HF cache volume.
#
#   docker build -f deploy/docker/engine.Dockerfile -t mirage-engine:0.1.0 .
#   docker run --gpus all -p 8700:8700 -e MIRAGE_ENGINE_TOKEN=... \
#       -v mirage-hf:/data/hf -v mirage-data:/data/mirage mirage-engine:0.1.0
#
# The same Python as CI (3.11) on a plain slim base: the torch wheels bring their own CUDA 13 libraries
# (nvidia-* wheels), so a CUDA base image would only add a second, unused copy. What the GPU needs from
# the host, the driver (>= 580 for CUDA 13), is mounted by the NVIDIA Container Toolkit, as the two
# NVIDIA_* variables below ask.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# 1. build: a virtual environment with the engine extra, from the pinned constraints only
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/mirage
WORKDIR /src
# torch first, in its own layer: the largest download changes least often
COPY deploy/constraints.txt deploy/constraints.txt
RUN /opt/mirage/bin/pip install -c deploy/constraints.txt torch torchvision
COPY pyproject.toml README.md ./
COPY engine engine
RUN /opt/mirage/bin/pip install -c deploy/constraints.txt ".[engine]"

# 2. run: the same slim base, the venv copied in, a non-root user
FROM ${PYTHON_IMAGE}
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin mirage \
 && mkdir -p /data/hf /data/mirage \
 && chown -R mirage:mirage /data
COPY --from=build /opt/mirage /opt/mirage
ENV PATH=/opt/mirage/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HOME=/data/hf \
    MIRAGE_DATA_DIR=/data/mirage \
    MIRAGE_PORT=8700 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
# model weights (seed once with `python -m engine prefetch`) and the atlas/model caches outlive the container
VOLUME ["/data/hf", "/data/mirage"]
USER 10001:10001
WORKDIR /home/mirage
EXPOSE 8700
# Healthy = ready, or still on its way (loading, waiting for `engine index`, draining); unhealthy = not
# answering, or a component failed for good (engine/api/probe.py). The first start downloads several GB
# of weights (unless the HF volume was seeded), hence the long start period.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10m --retries=3 \
  CMD ["python", "-m", "engine.api.probe", "http://127.0.0.1:8700/readyz"]
# Listening beyond loopback needs MIRAGE_ENGINE_TOKEN (the engine refuses to start without it).
CMD ["python", "-m", "engine", "serve", "--host", "0.0.0.0"]
