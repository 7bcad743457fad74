#!/usr/bin/env bash
# Run the test suite: set up .venv with the test and web extras and headless Chromium (only what is missing),
# then pytest.
# Extra arguments pass through to pytest (e.g. `bash tools/run_tests.sh -k registry -x`).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/ensure_env.sh" requirements/tests.txt requirements/web.txt
# Headless Chromium for the web demo's browser test (skipped when already installed).
bash tools/install_browser.sh
exec "$PY" -m pytest -n 2 "$@"
