#!/usr/bin/env bash
# Install MIRAGE (engine + bot + eval + test tools) into ./.venv from this checkout's own files.
# Usage: deploy/install.sh [extras]   (default extras: bot,engine,eval,test,deploy-check)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-bot,engine,eval,test,deploy-check}"
python3 -m venv .venv
# Pinned versions that the test suite was run with (torch first: the largest download).
.venv/bin/pip install -q -c deploy/constraints.txt torch torchvision
.venv/bin/pip install -q -c deploy/constraints.txt -e ".[${extras}]"
echo "installed MIRAGE [${extras}] into .venv"
