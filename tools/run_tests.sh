#!/usr/bin/env bash
# Run the test suite: set up .venv with sama_mm[tests] (every extra, constrained by requirements/lock.txt) and
# headless Chromium (only what is missing), then pytest.
# Extra arguments pass through to pytest (e.g. `bash tools/run_tests.sh -k registry -x`).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/ensure_env.sh" tests
# Headless Chromium for the web demo's browser test (skipped when already installed).
bash tools/install_browser.sh
exec "$PY" -m pytest -n 2 "$@"
