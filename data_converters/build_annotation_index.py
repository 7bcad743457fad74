#!/usr/bin/env python
"""Convert a large annotation file ONCE into an on-disk index that datasets read one record at a time.

    python data_converters/build_annotation_index.py SRC.json [--out SRC.index] [--kind auto|records|mask_dict]
    python data_converters/build_annotation_index.py SRC.pkl --trust-pickle-code-execution [...]

* a JSON list of records (SAMA-239K ``sama239k_train_final.json``) -> a ``records`` index with estimated token
  lengths (for length-grouped sampling); open it with ``SAMA239KIndexedDataset(index_file=...)``;
* a JSON object ``key -> value`` (a mask dict) -> a ``mask_dict`` index read per key by
  ``LoadIndexedSegMasks``/``LoadIndexedRegionMasks`` (name the ``.index`` folder in ``mask_dicts``).

JSON is streamed (the converter never holds the whole file). A pickle is loaded only with
``--trust-pickle-code-execution``, because unpickling can execute arbitrary code; the index written from it is
plain JSON lines. The index layout is described in ``sama_mm/datasets/lazy_index.py``. The output folder must
not exist (or be empty): an existing index is never overwritten.
"""
import argparse
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)


def _first_char(path: str) -> str:
    with open(path, encoding='utf-8', errors='replace') as f:
        while True:
            c = f.read(1)
            if not c or not c.isspace():
                return c


def build(src: str, out: str = None, kind: str = 'auto', trust_pickle: bool = False) -> dict:
    """Build the index of ``src``; returns ``dict(out, kind, count)``.

    Raises:
        PickleInputError: ``src`` is a pickle and ``trust_pickle`` is False.
        DataError: ``src`` is not a JSON list/object (or the pickle holds neither), or is truncated.
    """
    from sama_mm.datasets.errors import DataError
    from sama_mm.datasets.io import is_pickle_file, pickle_refusal
    from sama_mm.datasets.lazy_index import iter_json_list, iter_json_object, write_index
    from sama_mm.datasets.lengths import sama239k_record_length

    out = out or osp.splitext(src)[0] + '.index'
    if not osp.isfile(src):
        raise DataError('missing_file', src, 'file not found')
    if is_pickle_file(src):
        if not trust_pickle:
            err = pickle_refusal(src)
            err.args = (err.args[0].replace('data_converters/pickle_to_json.py',
                                            'data_converters/build_annotation_index.py') + ' (add the flag here)', )
            raise err
        import pickle
        with open(src, 'rb') as f:
            data = pickle.load(f)  # noqa: S301  (explicitly trusted by the caller)
        from data_converters.pickle_to_json import to_json_value
        data = to_json_value(data)
        if isinstance(data, list):
            values, keys, found = iter(data), None, 'records'
        elif isinstance(data, dict):
            keys = [str(k) for k in data]
            values, found = (data[k] for k in data), 'mask_dict'
        else:
            raise DataError('schema', src, f'the pickle holds a {type(data).__name__}, not a list or dict')
    else:
        first = _first_char(src)
        if first == '[':
            values, keys, found = iter_json_list(src), None, 'records'
        elif first == '{':
            # Keys are collected while streaming; the values go straight to disk.
            keys = []

            def values_of():
                for key, value in iter_json_object(src):
                    keys.append(key)
                    yield value
            values, found = values_of(), 'mask_dict'
        else:
            raise DataError('schema', src, 'expected a JSON list of records or a JSON object (mask dict)')
    if kind not in ('auto', found):
        raise DataError('schema', src, f'--kind {kind} but the file holds a {found}')
    if found == 'records':
        count = write_index(out, values, 'records', src, length_fn=sama239k_record_length)
    else:
        count = write_index(out, values, 'mask_dict', src, keys=keys)
    return dict(out=out, kind=found, count=count)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='the annotation JSON (a list of records or a mask dict), or a trusted pickle')
    parser.add_argument('--out', help='the index folder to write (default: SRC without extension + .index)')
    parser.add_argument('--kind', default='auto', choices=['auto', 'records', 'mask_dict'])
    parser.add_argument('--trust-pickle-code-execution', action='store_true',
                        help='allow loading a pickle (unpickling can run arbitrary code: only for files you trust)')
    args = parser.parse_args(argv)
    from sama_mm.datasets.errors import DataError
    try:
        result = build(args.src, args.out, args.kind, args.trust_pickle_code_execution)
    except (DataError, FileExistsError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    print(f'wrote {result["kind"]} index of {result["count"]} entries to {result["out"]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
