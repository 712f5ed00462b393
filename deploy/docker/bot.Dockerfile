# syntax=docker/dockerfile:1
# The MIRAGE Discord bot: discord.py and the HTTP client only; no torch, no model code in this image.
#
#   docker build -f deploy/docker/bot.Dockerfile -t mirage-bot:0.1.0 .
#   docker run -e MIRAGE_DISCORD_TOKEN=... -e MIRAGE_ENGINE_URL=http://engine:8700 \
#       -e MIRAGE_ENGINE_TOKEN=... mirage-bot:0.1.0
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# 1. build: a virtual environment with the bot extra only, from the pinned constraints; of the engine
#    only its pure-pydantic contract (tests/deploy checks that the bot imports nothing else of it)
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/mirage
WORKDIR /src
COPY deploy/constraints.txt deploy/constraints.txt
COPY pyproject.toml README.md ./
COPY engine/__init__.py engine/contract.py engine/
COPY bot bot
RUN /opt/mirage/bin/pip install -c deploy/constraints.txt ".[bot]"

# 2. run: slim Python, the venv copied in, a non-root user
FROM ${PYTHON_IMAGE}
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin mirage \
 && mkdir -p /data/bot \
 && chown -R mirage:mirage /data
COPY --from=build /opt/mirage /opt/mirage
ENV PATH=/opt/mirage/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MIRAGE_DATA_DIR=/data/bot
# the SQLite database when MIRAGE_DATABASE_URL is not a PostgreSQL URL
VOLUME ["/data/bot"]
USER 10001:10001
WORKDIR /data/bot
CMD ["python", "-m", "bot"]
