#!/usr/bin/env bash
# Create .venv at the repository root if it is missing and install the pinned dependencies only when they
# are not already satisfied, then install sama_mm itself in editable mode. Sourced by quickstart.sh and
# run_tests.sh; extra requirement files (e.g. requirements/tests.txt) are passed as arguments.
# After sourcing, $PY is the venv's python.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
cd "$ROOT"

if [ ! -x "$VENV/bin/python" ]; then
    echo "[ensure_env] creating $VENV"
    python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "[ensure_env] warning: the pins are verified on Python 3.11; this venv has $("$PY" --version)" >&2
fi

main_reqs=(requirements/runtime.txt requirements/mminstall.txt "$@")
if ! "$PY" tools/check_requirements.py "${main_reqs[@]}"; then
    echo "[ensure_env] installing ${main_reqs[*]} (first time: a few minutes, ~7 GB)"
    req_args=()
    for f in "${main_reqs[@]}"; do req_args+=(-r "$f"); done
    "$PY" -m pip install --disable-pip-version-check "${req_args[@]}"
fi
# Packages whose declared requirements conflict with our pins although their code runs with them:
# a separate call with --no-deps (see the comments in requirements/nodeps.txt).
if ! "$PY" tools/check_requirements.py requirements/nodeps.txt; then
    echo "[ensure_env] installing requirements/nodeps.txt (--no-deps)"
    SAM2_BUILD_CUDA=0 "$PY" -m pip install --disable-pip-version-check --no-deps --no-build-isolation \
        --ignore-requires-python -r requirements/nodeps.txt
fi
# Run the check from / so that the checkout itself (the current directory) cannot satisfy the import.
if ! (cd / && "$PY" -c 'import os, sys, sama_mm; sys.exit(os.path.dirname(os.path.dirname(os.path.abspath(sama_mm.__file__))) != sys.argv[1])' "$ROOT" 2>/dev/null); then
    echo "[ensure_env] installing sama_mm (editable)"
    "$PY" -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
fi
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
