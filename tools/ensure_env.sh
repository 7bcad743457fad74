#!/usr/bin/env bash
# Create .venv at the repository root if it is missing and install sama_mm (editable) with the given extras,
# constrained to the exact tested set in requirements/lock.txt, in ONE pip call:
#     pip install -c requirements/lock.txt -e ".[EXTRAS]"
# Sourced by quickstart.sh (extras train,eval,web) and run_tests.sh (extras tests, which include the others).
# The install is skipped when this venv already holds that install of the current requirement files (a stamp
# in .venv records a hash of them). Usage: source tools/ensure_env.sh [EXTRAS]. After sourcing, $PY is the
# venv's python.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
EXTRAS="${1:-train,eval,web}"
cd "$ROOT"

if [ ! -x "$VENV/bin/python" ]; then
    echo "[ensure_env] creating $VENV"
    python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "[ensure_env] warning: requirements/lock.txt is tested on Python 3.11; this venv has $("$PY" --version)" >&2
fi

# What this install depends on: the extras, the lock, every requirement file and setup.py.
STAMP="$VENV/.sama_mm_install_${EXTRAS//,/_}"
WANT="$(cat requirements/lock.txt requirements/*.txt setup.py | "$PY" -c \
    'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')"
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$WANT" ]; then
    echo "[ensure_env] installing sama_mm[$EXTRAS] with requirements/lock.txt (first time: a few minutes, ~7 GB)"
    # sam2 is an sdist that pip builds; without CUDA it skips its optional extension.
    SAM2_BUILD_CUDA=0 "$PY" -m pip install --disable-pip-version-check -c requirements/lock.txt -e ".[$EXTRAS]"
    # pip check fails the run when the installed set is inconsistent (every package is installed with its dependencies).
    # One known line is let through: pip 24+ reports "decord 0.6.0 is not supported on this platform" because the
    # decord wheel's metadata carries a cp36 tag; its code runs on Python 3.11 (the video backend tests use it).
    if ! check="$("$PY" -m pip check 2>&1)"; then
        rest="$(printf '%s\n' "$check" | grep -v '^decord 0\.6\.0 is not supported on this platform' || true)"
        if [ -n "$rest" ]; then
            printf '[ensure_env] pip check failed:\n%s\n' "$rest" >&2
            exit 1
        fi
    fi
    echo "$WANT" > "$STAMP"
fi
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
