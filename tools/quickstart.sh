#!/usr/bin/env bash
# The main job on the embedded demo default: set up .venv (only what is missing), build the demo data, check
# it, train the tiny SAMA on it, evaluate it (J&F on the demo MeViS valid_u split) and chat with a demo video,
# writing everything to work_dirs/quickstart/. Idempotent: a second run reuses the venv, the demo data and the
# trained checkpoint (training resumes from it and stops at once).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/ensure_env.sh"
OUT=work_dirs/quickstart
CONFIG=configs/demo/sama_tiny_demo.py
mkdir -p "$OUT"

echo "== [1/4] demo data (data/demo) =="
"$PY" data_converters/build_demo_data.py --out data/demo

echo "== [2/4] check the demo data against its format and the files on disk =="
"$PY" tools/check_dataset.py configs/demo/demo_data.py > "$OUT/check_dataset.txt"
tail -n 1 "$OUT/check_dataset.txt"

echo "== [3/4] train the tiny SAMA on the demo data (CPU, a few minutes) =="
"$PY" tools/train.py "$CONFIG" --work-dir "$OUT/train" --resume
CKPT="$OUT/train/$(basename "$(cat "$OUT/train/last_checkpoint")")"

echo "== [4/4] evaluate: J&F on the demo MeViS valid_u split =="
rm -f "$OUT/metrics.json"  # this script's own output from an earlier run
"$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$OUT/test" --out "$OUT/metrics.json"
cat "$OUT/metrics.json"

echo
echo "Done. Outputs in $OUT/ (check_dataset.txt, train/, metrics.json)."
echo "Activate the environment with: source .venv/bin/activate"
