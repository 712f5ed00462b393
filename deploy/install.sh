#!/usr/bin/env bash
# Install MIRAGE (engine + bot + eval + test tools) into ./.venv from this checkout's own files.
# Usage: deploy/install.sh [extras]   (default extras: bot,engine,eval,test,deploy-check)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-bot,engine,eval,test,deploy-check}"
# 1. Before any download: a Python new enough (pyproject: requires-python >= 3.11) ...
python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "install.sh: MIRAGE needs Python 3.11 or newer; $python is $("$python" -V 2>&1 || echo missing)." >&2
    echo "            Install one, then run PYTHON=python3.11 deploy/install.sh" >&2
    exit 2
fi
# ... and room for it: torch with its CUDA libraries and the other wheels take ~9 GB in .venv, plus
# pip's temporary copies while installing (MIRAGE_INSTALL_MIN_GB to change the floor)
need_gb="${MIRAGE_INSTALL_MIN_GB:-12}"
[ -x .venv/bin/python ] && need_gb="${MIRAGE_INSTALL_MIN_GB:-2}"  # an existing .venv: only what changed
free_gb=$(df -Pk . | awk 'NR==2 {print int($4 / 1048576)}')
if [ "$free_gb" -lt "$need_gb" ]; then
    echo "install.sh: ${free_gb} GB free in $(pwd); the install needs about ${need_gb} GB. Free some space first." >&2
    exit 2
fi
"$python" -m venv .venv
# 2. Pinned versions that the test suite was run with (torch first: the largest download).
.venv/bin/pip install -q -c deploy/constraints.txt torch torchvision
.venv/bin/pip install -q -c deploy/constraints.txt -e ".[${extras}]"
echo "installed MIRAGE [${extras}] into .venv"
