#!/usr/bin/env bash
# The main job on the embedded demo default: set up .venv (only what is missing), build the demo data, check
# it, train the tiny SAMA on it, evaluate it on the held-out clips (J&F, referring and region questions), chat
# with a held-out clip and write a short report, everything into work_dirs/quickstart/. Idempotent: a second
# run reuses the venv, the demo data and the trained checkpoint (training resumes from it and stops at once).
set -euo pipefail
# Installs sama_mm[train,eval,web] with requirements/lock.txt into .venv (only when missing).
# decord: data_converters/build_demo_data.py still decodes its source clips with decord directly.
source "$(dirname "${BASH_SOURCE[0]}")/ensure_env.sh" train,eval,web,decord
OUT=work_dirs/quickstart
CONFIG=configs/demo/sama_tiny_demo.py
mkdir -p "$OUT"

echo "== [1/5] demo data (data/demo) =="
"$PY" data_converters/build_demo_data.py --out data/demo

echo "== [2/5] check the demo data against its format and the files on disk =="
"$PY" tools/check_dataset.py configs/demo/demo_data.py > "$OUT/check_dataset.txt"
tail -n 1 "$OUT/check_dataset.txt"

echo "== [3/5] train the tiny SAMA on the demo data (CPU, about 5 minutes; the bar shows the time left) =="
# val_begin past the end: no validation inside training, step 4 evaluates the checkpoint.
"$PY" tools/train.py "$CONFIG" --work-dir "$OUT/train" --resume --cfg-options train_cfg.val_begin=100000
CKPT="$OUT/train/$(basename "$(cat "$OUT/train/last_checkpoint")")"

echo "== [4/5] evaluate: J&F on the held-out demo clips (MeViS valid_u layout) =="
rm -f "$OUT/metrics.json"  # this script's own output from an earlier run
"$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$OUT/test" --out "$OUT/metrics.json"

echo "== [5/5] ask about every held-out object, chat with a held-out clip, write the report =="
# Referring and region questions on every held-out object, then a chat with bikes_b (a referring question per
# object, a two-object question, a region question and a follow-up): chat/ (answers.json, masks.json,
# overlay.mp4, overlay.gif), summary.png, quality.json and report.md (printed below).
rm -rf "$OUT/chat"  # this script's own output from an earlier run
"$PY" tools/analysis/demo_report.py --config "$CONFIG" --checkpoint "$CKPT" --demo-root data/demo \
    --metrics "$OUT/metrics.json" --out "$OUT" --clip bikes_b

echo
echo "Done. Outputs in $OUT/: report.md, summary.png, quality.json, metrics.json, chat/ (answers.json, masks.json,"
echo "overlay.mp4, overlay.gif), train/ (logs, checkpoint), check_dataset.txt."
echo "Activate the environment with: source .venv/bin/activate"
