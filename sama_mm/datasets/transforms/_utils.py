"""Small helpers shared by the transforms (not transforms themselves)."""
from typing import Any, Dict


def record_of(results: Dict[str, Any]) -> str:
    """A short id of the sample for error messages: ``video_id/exp_id``, ``index (video_id)`` or ``?``.

    SAMA-239K data infos carry ``record_index`` and ``video_id``; referring-VOS infos carry ``video_id`` and
    ``exp_id``. Whatever is present is used, so every error names the annotation record it comes from.
    """
    video_id = results.get('video_id')
    if results.get('exp_id') is not None:
        return f'{video_id}/{results["exp_id"]}'
    if results.get('record_index') is not None:
        return f'{results["record_index"]} ({video_id})'
    if video_id is not None:
        return str(video_id)
    if results.get('sample_idx') is not None:
        return f'sample {results["sample_idx"]}'
    return '?'


def source_of(results: Dict[str, Any]) -> str:
    """The video file or frame folder of a sample (``video_path``, else ``frame_dir``)."""
    return str(results.get('video_path') or results.get('frame_dir') or '?')
