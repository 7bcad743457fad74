#!/usr/bin/env python
"""Corpus-level caption scores (BLEU-1..4, METEOR, ROUGE-L, CIDEr) of predictions against references.

    python tools/eval_captions.py --refs refs.json --preds preds.json [--out FILE] [--no-clean]

``refs.json`` is ``{id: [reference, ...]}`` (a single string is one reference) and ``preds.json`` is
``{id: prediction}``. Both files must hold exactly the same ids; otherwise the tool stops with an error that
lists the ids found on one side only (exit status 1). An id repeated within a file, an empty (or whitespace)
reference and an empty prediction are errors naming the file and the id. Texts are cleaned as SAMA-Bench does
(markup tokens removed, whitespace collapsed, 300 words / 2000 characters), tokenised with pycocoevalcap's
PTBTokenizer and scored over the whole corpus (see :mod:`sama_mm.evaluation.functional.captions`). A reference
that cleaning empties is an error; a prediction that cleaning empties (only markup, e.g. ``[SEG]``) scores 0 and
is counted in a warning on stderr.

Prints one JSON object with ``BLEU-1`` .. ``BLEU-4``, ``METEOR``, ``ROUGE-L`` and ``CIDEr``; ``--out FILE``
also writes it to FILE, which must not exist yet (its folder is created when missing).
"""
import argparse
import json
import os.path as osp
import sys

# Run from a checkout: its sama_mm comes before any installed copy.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


class DuplicateIdError(ValueError):
    """A JSON object of the input repeats a key (``json`` would silently keep the last value)."""


def _unique_keys(pairs):
    """``object_pairs_hook`` of :func:`json.load` that refuses a repeated key instead of keeping the last."""
    seen = set()
    for key, _ in pairs:
        if key in seen:
            raise DuplicateIdError(key)
        seen.add(key)
    return dict(pairs)


def _load(path: str, kind: str):
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f, object_pairs_hook=_unique_keys)
    except DuplicateIdError as exc:
        raise ValueError(f'{path}: id {exc.args[0]!r} appears more than once; every id must be unique') from None
    except FileNotFoundError:
        raise ValueError(f'{path}: {kind} file not found') from None
    except json.JSONDecodeError as exc:
        raise ValueError(f'{path}: not valid JSON ({exc})') from None
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a JSON object {{id: ...}}, got {type(data).__name__}')
    return data


def _check_types(refs: dict, preds: dict, refs_path: str, preds_path: str):
    """Refuse wrong types and empty (or whitespace-only) texts, naming the file and the id."""
    for key, value in refs.items():
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise ValueError(f'{refs_path} record {key!r}: expected a non-empty list of strings')
        for i, text in enumerate(values):
            if not text.strip():
                raise ValueError(f'{refs_path} record {key!r}: reference {i} is empty')
    for key, value in preds.items():
        if not isinstance(value, str):
            raise ValueError(f'{preds_path} record {key!r}: expected a string, got {type(value).__name__}')
        if not value.strip():
            raise ValueError(f'{preds_path} record {key!r}: the prediction is empty (an empty answer would '
                             'silently score 0; write what the model answered)')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Corpus-level caption scores with pycocoevalcap.')
    parser.add_argument('--refs', required=True, help='JSON {id: [reference, ...]}')
    parser.add_argument('--preds', required=True, help='JSON {id: prediction}')
    parser.add_argument('--out', help='also write the JSON scores to this file '
                        '(must not exist; a missing folder is created)')
    parser.add_argument('--no-clean', action='store_true', help='score the raw texts (no SAMA-Bench cleaning)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from sama_mm.utils.cli import emit_report, out_path_usable
    if args.out and not out_path_usable(args.out):
        return 2
    from sama_mm.evaluation.functional.captions import (JavaNotFoundError, caption_scores, check_same_ids,
                                                         empty_predictions)
    try:
        refs = _load(args.refs, 'references')
        preds = _load(args.preds, 'predictions')
        _check_types(refs, preds, args.refs, args.preds)
        check_same_ids(refs, preds, what=f'references ({args.refs})', other=f'predictions ({args.preds})')
        try:
            scores = caption_scores(refs, preds, clean=not args.no_clean)
        except ValueError as exc:  # an empty reference after cleaning: name the file
            raise ValueError(f'{args.refs}: {exc}') from None
    except (ValueError, JavaNotFoundError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    empty = empty_predictions(preds, clean=not args.no_clean)
    if empty:
        shown = ', '.join(repr(k) for k in empty[:10]) + (f', ... (+{len(empty) - 10} more)' if len(empty) > 10 else '')
        print(f'warning: {len(empty)} prediction(s) in {args.preds} hold only markup and are empty after cleaning; '
              f'they score 0: {shown}', file=sys.stderr)
    text = json.dumps(scores)
    emit_report(text, args.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
