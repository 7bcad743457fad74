#!/usr/bin/env python
"""Write a sama_mm model in the released SAMA layout (sharded safetensors + index + config.json + tokenizer).

    python tools/convert/to_hf.py work_dirs/sama_1b_converted out/SAMA_1B_hf
    python tools/convert/to_hf.py work_dirs/run --config configs/... --checkpoint work_dirs/run/iter_1000.pth out/hf
LoRA adapters are merged into the LLM (peft ``merge_and_unload``) on the way. The config's model, test pipeline
and chat settings are written to DST/sama_mm_config.json (data only), so that from_hf.py restores them.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from sama_mm.apis.convert import ConversionError, convert_to_hf  # noqa: E402
from sama_mm.utils.config_check import ConfigError  # noqa: E402
from sama_mm.utils.weights import StateDictMismatchError  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='sama_mm model -> released SAMA HF layout')
    parser.add_argument('src', help='a converted folder (sama_mm_config.json, safetensors, tokenizer, '
                        'hf_config.json) or a folder with the tokenizer files')
    parser.add_argument('dst', help='output folder (must be empty unless --force)')
    parser.add_argument('--config', help='our config (default: SRC/sama_mm_config.json)')
    parser.add_argument('--checkpoint', help='weights: a .pth / .safetensors / folder (default: SRC)')
    parser.add_argument('--dtype', choices=['bfloat16', 'float32', 'float16'],
                        help='cast floating tensors (default: the dtype of SRC/hf_config.json, else unchanged)')
    parser.add_argument('--max-shard-gb', type=float, default=5.0, help='shard size')
    parser.add_argument('--force', action='store_true', help='write into a non-empty DST')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        report = convert_to_hf(args.src, args.dst, config=args.config, checkpoint=args.checkpoint, dtype=args.dtype,
                               max_shard_bytes=int(args.max_shard_gb * 1024**3), overwrite=args.force)
    except (ConversionError, ConfigError, StateDictMismatchError, FileExistsError, FileNotFoundError) as exc:
        raise SystemExit(f'error: {exc}') from None
    print(f'wrote {report["num_tensors"]} tensors in {len(report["shards"])} shard(s) to {args.dst}'
          + (' (LoRA merged)' if report['merged_lora'] else ''))


if __name__ == '__main__':
    main()
