"""Pure metric functions on numpy arrays and texts (no registries; files only where a tool needs them)."""
from .captions import JavaNotFoundError, caption_scores, clean_caption
from .clair import ClairJudge, ClairResult, build_prompt, parse_answer
from .grounding import (SentenceEmbeddingSimilarity, ciou_giou, extract_phrases, greedy_match, iou_matrix,
                        mask_intersection_union, question_miou, question_recall, track_iou)
from .jf import (boundary_f_measure, boundary_map, boundary_precision_recall, boundary_tolerance, disk,
                 jf_per_object, pixel_accuracy, region_similarity, robustness)

__all__ = ['region_similarity', 'boundary_f_measure', 'boundary_precision_recall', 'boundary_map',
           'boundary_tolerance', 'disk', 'jf_per_object', 'pixel_accuracy', 'robustness',
           'caption_scores', 'clean_caption', 'JavaNotFoundError',
           'ClairJudge', 'ClairResult', 'build_prompt', 'parse_answer', 'SentenceEmbeddingSimilarity',
           'ciou_giou', 'extract_phrases', 'greedy_match', 'iou_matrix', 'mask_intersection_union',
           'question_miou', 'question_recall', 'track_iou']
