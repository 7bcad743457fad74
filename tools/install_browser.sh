#!/usr/bin/env bash
# Install headless Chromium (Debian's package) for the web demo's browser test, unless it is already there.
# tools/run_tests.sh runs this before the tests, so CI (root, Debian) installs it on a fresh machine; a failed
# install stops the run instead of skipping the test. Without root (or apt-get), install `chromium` yourself.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "[install_browser] chromium is missing and this is not root on a Debian/Ubuntu machine:" \
         "install the chromium package (headless Chromium for tests/webui/test_web_demo_browser.py)" >&2
    exit 1
fi
echo "[install_browser] installing chromium (Debian) for the web demo's browser test"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# fonts-dejavu-core: text in the page's screenshots; the rest of what headless Chromium needs are its Depends.
apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
command -v chromium >/dev/null
