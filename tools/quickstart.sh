#!/usr/bin/env bash
# The main job on the embedded demo default: set up .venv (only what is missing), build the demo data, check
# it, train the tiny SAMA on it, evaluate it (J&F on the demo MeViS valid_u split) and chat with a demo video,
# writing everything to work_dirs/quickstart/. Idempotent: a second run reuses the venv, the demo data and the
# trained checkpoint (training resumes from it and stops at once).
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

echo "== [3/5] train the tiny SAMA on the demo data (CPU, a few minutes) =="
"$PY" tools/train.py "$CONFIG" --work-dir "$OUT/train" --resume
CKPT="$OUT/train/$(basename "$(cat "$OUT/train/last_checkpoint")")"

echo "== [4/5] evaluate: J&F on the demo MeViS valid_u split =="
rm -f "$OUT/metrics.json"  # this script's own output from an earlier run
"$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$OUT/test" --out "$OUT/metrics.json"
cat "$OUT/metrics.json"

echo "== [5/5] chat with a held-out demo video: a referring question and a region-prompt question =="
VIDEO=data/demo/videos/bikes_b.mp4
"$PY" - > "$OUT/chat_questions.txt" <<'PYEOF'
import json
meta = json.load(open('data/demo/mevis/valid_u/meta_expressions.json'))
expression = meta['videos']['bikes_b']['expressions']['0']['exp']
print(f'Please segment {expression}.')
print('What is <mask> doing in the video?')
PYEOF
# The region prompt: a box on frame 0 around the first object of the clip (read from the demo ground truth).
REGION=$("$PY" -c "
import json, numpy as np
from sama_mm.structures import decode_rle
masks = json.load(open('data/demo/mevis/valid_u/mask_dict.json'))
anno = json.load(open('data/demo/mevis/valid_u/meta_expressions.json'))['videos']['bikes_b']['expressions']['0']['anno_id'][0]
t = next(i for i, m in enumerate(masks[anno]) if m is not None)
ys, xs = np.nonzero(decode_rle(masks[anno][t]))
print(f'{t}:{xs.min()},{ys.min()},{xs.max() + 1},{ys.max() + 1}')
")
# --force: this folder is this script's own output from an earlier run.
"$PY" tools/chat.py "$VIDEO" --config "$CONFIG" --checkpoint "$CKPT" --questions "$OUT/chat_questions.txt" \
    --region "$REGION" --out "$OUT/chat" --gif --force

echo
echo "Done. Outputs in $OUT/: check_dataset.txt, train/ (logs, checkpoint), metrics.json, chat/ (answers.json,"
echo "masks.json with one RLE mask track per [SEG], overlay.mp4 and overlay.gif)."
echo "Activate the environment with: source .venv/bin/activate"
