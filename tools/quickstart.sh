#!/usr/bin/env bash
# The main job on the embedded demo default: set up .venv (only what is missing), build the demo data,
# check it, and run the pipeline that exists, writing everything to work_dirs/quickstart/.
# Idempotent: a second run reuses the venv and the demo data.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/ensure_env.sh"
OUT=work_dirs/quickstart
mkdir -p "$OUT"

echo "== [1/2] demo data (data/demo) =="
"$PY" data_converters/build_demo_data.py --out data/demo

echo "== [2/2] check the demo data against its format and the files on disk =="
"$PY" tools/check_dataset.py configs/demo/demo_data.py | tee "$OUT/check_dataset.txt"

echo
echo "Done. Outputs in $OUT/. Activate the environment with: source .venv/bin/activate"
