#!/usr/bin/env python
"""Convert a released pickle annotation (e.g. Ref-YouTube-VOS / Ref-DAVIS17 ``mask_dict.pkl``) into JSON, once.

Unpickling runs whatever code the file asks for, so sama_mm never loads pickles implicitly: datasets and
tools/check_dataset.py only read JSON. Run this converter only on files from a source you trust; it refuses to
run without ``--trust-pickle-code-execution``. RLE ``counts`` stored as bytes become ASCII strings, numpy
scalars and arrays become numbers and lists, dict keys become strings.

Usage:
    python data_converters/pickle_to_json.py IN.pkl OUT.json --trust-pickle-code-execution
"""
import argparse
import json
import os.path as osp
import pickle
import sys

import numpy as np


def to_json_value(obj, where='root'):
    """Recursively turn unpickled data into JSON-serialisable values (errors name the path inside)."""
    if isinstance(obj, dict):
        return {str(k): to_json_value(v, f'{where}.{k}') for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json_value(v, f'{where}[{i}]') for i, v in enumerate(obj)]
    if isinstance(obj, bytes):
        try:
            return obj.decode('ascii')
        except UnicodeDecodeError:
            raise ValueError(f'{where}: bytes that are not ASCII (not an RLE counts string)') from None
    if isinstance(obj, np.ndarray):
        return to_json_value(obj.tolist(), where)
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise ValueError(f'{where}: cannot represent {type(obj).__name__} in JSON')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='the pickle file')
    parser.add_argument('dst', help='the JSON file to write (must not exist)')
    parser.add_argument('--trust-pickle-code-execution', action='store_true',
                        help='confirm that SRC comes from a trusted source: unpickling can execute code')
    args = parser.parse_args(argv)
    if not args.trust_pickle_code_execution:
        print(f'refusing to unpickle {args.src}: unpickling can execute arbitrary code. If you trust where the '
              'file comes from, rerun with --trust-pickle-code-execution', file=sys.stderr)
        return 2
    if osp.exists(args.dst):
        print(f'refusing to overwrite {args.dst}', file=sys.stderr)
        return 1
    with open(args.src, 'rb') as f:
        data = pickle.load(f)  # explicitly requested by the user above
    try:
        converted = to_json_value(data)
    except ValueError as exc:
        print(f'{args.src}: {exc}', file=sys.stderr)
        return 1
    with open(args.dst, 'w', encoding='utf-8') as f:
        json.dump(converted, f)
    print(f'wrote {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
