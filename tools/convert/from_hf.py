#!/usr/bin/env python
"""Convert a released SAMA / Sa2VA Hugging Face folder into a sama_mm folder (safetensors, tokenizer and the
data-only config sama_mm_config.json: model, test pipeline and chat settings, read without running any code).

    python tools/convert/from_hf.py checkpoints/SAMA_1B work_dirs/sama_1b_converted
    python tools/chat.py VIDEO --checkpoint work_dirs/sama_1b_converted

A folder exported by tools/convert/to_hf.py carries the settings of the config it came from; they are kept as they
are. A real release gets the released inference settings.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from sama_mm.apis.convert import ConversionError, convert_from_hf  # noqa: E402
from sama_mm.utils.config_check import ConfigError  # noqa: E402
from sama_mm.utils.weights import StateDictMismatchError  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Released SAMA/Sa2VA HF folder -> sama_mm folder')
    parser.add_argument('src', help='released folder (config.json, *.safetensors, tokenizer files)')
    parser.add_argument('dst', help='output folder (must be empty unless --force)')
    parser.add_argument('--sam2-config', help='sam2 model config name (default: inferred from the trunk shapes)')
    parser.add_argument('--sam2-image-size', type=int, help='SAM2 input size if not 1024')
    parser.add_argument('--qformer-heads', type=int, help='Q-Former attention heads (default: width // 64)')
    parser.add_argument('--qformer-vocab', help='the temporal Q-Former vocabulary of a release (BERT vocab.txt or a '
                        'folder with one or with a saved tokenizer); copied into DST (default: '
                        'SRC/qformer_tokenizer, else checkpoints/bert-base-uncased)')
    parser.add_argument('--max-shard-gb', type=float, default=5.0, help='shard size of the written weights')
    parser.add_argument('--no-verify', action='store_true',
                        help='do not build the model and load the weights strictly after writing')
    parser.add_argument('--force', action='store_true', help='write into a non-empty DST')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        report = convert_from_hf(args.src, args.dst, sam2_config=args.sam2_config,
                                 sam2_image_size=args.sam2_image_size, qformer_heads=args.qformer_heads,
                                 max_shard_bytes=int(args.max_shard_gb * 1024**3), verify=not args.no_verify,
                                 overwrite=args.force, qformer_vocab=args.qformer_vocab)
    except (ConversionError, ConfigError, StateDictMismatchError, FileExistsError, FileNotFoundError) as exc:
        raise SystemExit(f'error: {exc}') from None
    print(f'wrote {report["num_tensors"]} tensors, sama_mm_config.json ({report["settings"]}) and '
          f'{len(report["tokenizer_files"])} tokenizer files to {args.dst}'
          + (' (verified: strict load)' if report['verified'] else ''))


if __name__ == '__main__':
    main()
