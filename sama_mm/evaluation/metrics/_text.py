"""Shared parts of the text metrics: building the similarity encoder and the CLAIR judge, caption scoring."""
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from mmengine.logging import MMLogger

from ..functional.captions import caption_scores, clean_caption
from ..functional.clair import ClairJudge, summarize
from ..functional.grounding import SentenceEmbeddingSimilarity

SIMILARITY_TYPES = {'SentenceEmbeddingSimilarity': SentenceEmbeddingSimilarity}


def build_similarity(cfg: Any) -> Optional[Callable]:
    """A text-similarity callable from a config.

    Args:
        cfg: None (no recall), a callable ``(phrases_a, phrases_b) -> [Na, Nb]``, or a dict whose ``type`` is
            ``'SentenceEmbeddingSimilarity'`` (or a class / callable factory) and whose other keys are its
            arguments, e.g. ``dict(type='SentenceEmbeddingSimilarity', model_path='/models/bert-base-uncased')``.
    """
    if cfg is None or callable(cfg) and not isinstance(cfg, dict):
        return cfg
    if isinstance(cfg, dict):
        cfg = dict(cfg)
        kind = cfg.pop('type', 'SentenceEmbeddingSimilarity')
        factory = SIMILARITY_TYPES.get(kind) if isinstance(kind, str) else kind
        if factory is None:
            raise ValueError(f'unknown similarity type {kind!r}; known: {sorted(SIMILARITY_TYPES)}')
        return factory(**cfg)
    raise TypeError(f'similarity must be None, a callable or a dict, got {type(cfg).__name__}')


def build_clair(cfg: Any) -> Optional[ClairJudge]:
    """A :class:`ClairJudge` from a dict of its arguments (or an instance, or None for no CLAIR)."""
    if cfg is None or isinstance(cfg, ClairJudge):
        return cfg
    if isinstance(cfg, dict):
        return ClairJudge(**cfg)
    raise TypeError(f'clair must be None, a dict of ClairJudge arguments or a ClairJudge, got {type(cfg)}')


def text_scores(refs: Mapping[str, Sequence[str]], preds: Mapping[str, str], captions: bool, meteor: bool,
                judge: Optional[ClairJudge], name: str) -> Dict[str, Any]:
    """Corpus-level caption scores and the CLAIR summary of cleaned predictions against references.

    CLAIR is the mean over the judged samples; failed judgements are excluded from the mean and counted in
    ``CLAIR_failures`` (their ids are logged).
    """
    out: Dict[str, Any] = {}
    if captions:
        out.update(caption_scores(refs, preds, clean=True, meteor=meteor))
    if judge is not None:
        results, failed = [], []
        for key in sorted(refs):
            res = judge([clean_caption(preds[key])], [clean_caption(r) for r in refs[key]])
            results.append(res)
            if not res.ok:
                failed.append(f'{key}: {res.error}')
        summary = summarize(results)
        if failed:
            MMLogger.get_current_instance().warning(
                f'{name}: {len(failed)} CLAIR judgement(s) failed and are left out of the mean:\n  ' +
                '\n  '.join(failed[:20]))
        out['CLAIR'] = summary['CLAIR'] if summary['CLAIR'] is not None else float('nan')
        out['CLAIR_failures'] = summary['CLAIR_failures']
    return out


def split_masks_by_round(texts: List[str], num_masks: int, where: str) -> List[range]:
    """Which of the K predicted tracks belong to each round: round r owns as many as its ``[SEG]`` count."""
    counts = [t.count('[SEG]') for t in texts]
    if sum(counts) != num_masks:
        raise ValueError(f'{where}: the answers hold {sum(counts)} [SEG] token(s) ({counts} per round) but '
                         f'pred_masks holds {num_masks} track(s)')
    out, start = [], 0
    for c in counts:
        out.append(range(start, start + c))
        start += c
    return out
