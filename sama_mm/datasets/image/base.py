"""What every image dataset shares: the data info shape, the checks of images and masks, the turn pairing.

The image datasets (:mod:`.refcoco`, :mod:`.gcg`, :mod:`.chat`) yield data infos of one shape, which
:class:`~sama_mm.datasets.transforms.ImageInit` turns into a one-frame video for the video pipeline (``ImageInit -> SampleFrames -> VideoDecode -> LoadImageMasks ->
InternVLImageTransform -> ... -> PackSAMAInputs``)::

    dict(img_path=str, image_id=str, video_id=str, record_index=int, height=int|None, width=int|None,
         ann_file=str, rounds=[dict(question, answer, gt_keys=[[key, ...] per [SEG]], region_keys=[key, ...])],
         masks={key: COCO segmentation (polygon list, compressed or uncompressed RLE)})

Questions use ``<mask>`` for region prompts and answers ``[SEG]`` (with ``<p> ... </p>`` phrases for GCG), as
in SAMA-239K, so the same tokenizer step serves all. Masks stay undecoded in the info (decoded only for the
sampled image by :class:`~sama_mm.datasets.transforms.LoadImageMasks`).

Differences from the reference loaders (on purpose): RefCOCO draws its rounds as the released recipe by default
(``rounds_mode="first"``: deterministic round-robin phrases, see :mod:`.refcoco`);
Osprey regions use SAMA's two-token ``<mask>`` prompt, not Sa2VA's
pixel-count tokens; LLaVA records without an image are dropped (counted as ``text_only`` in ``check()``).
"""
import os.path as osp
import re
from typing import Any, Dict, List, Optional, Tuple

from ...structures import MaskFormatError, check_segmentation
from ..base import CheckedDataset
from ..check import CheckReport
from ..errors import DataError
from ..io import decode_frame
from ..robust import SkipBadMixin

#: ``<image>`` tags of LLaVA/Osprey questions and ``<regionK>`` tags of Osprey (removed / renamed).
IMAGE_TAG = re.compile(r'\s*<image>\s*')
REGION_TAG = re.compile(r'<region(\d+)>')


class ImageChatDataset(SkipBadMixin, CheckedDataset):
    """Base of the image datasets: data infos as in the module docstring, checks of images and masks.

    Args:
        ann_file (str): The annotation file, relative to ``data_root``.
        data_root (str): Root of the annotation and images.
        data_prefix (dict): ``img``: folder the image file names are relative to, below ``data_root``.
        skip_bad (bool): Skip bad records/samples with a warning instead of raising. Defaults to False.
        max_skips (int): Most replacements for one index with ``skip_bad``. Defaults to 20.
        **kwargs: Passed to :class:`mmengine.dataset.BaseDataset`.
    """

    def __init__(self, ann_file: str, data_root: str = '', data_prefix: Optional[dict] = None,
                 skip_bad: bool = False, max_skips: int = 20, **kwargs):
        self._init_skip_bad(skip_bad, max_skips)
        super().__init__(ann_file=ann_file, data_root=data_root,
                         data_prefix=data_prefix if data_prefix is not None else dict(img=''), **kwargs)

    def load_data_list(self) -> List[dict]:
        """The data infos; a file that yields none is an ``empty_source`` error naming it (a mixture must not
        silently lose a source)."""
        infos = super().load_data_list()
        if not infos:
            raise DataError('empty_source', self.ann_file, f'no sample could be read from the file (a '
                            f'{type(self).__name__} source must not be silently empty)')
        return infos

    def _info(self, index: int, file_name: str, rounds: List[dict], masks: Dict[str, Any], image_id: Any = None,
              height: Optional[int] = None, width: Optional[int] = None) -> dict:
        image_id = str(image_id if image_id is not None else file_name)
        return dict(record_index=index, image_id=image_id, video_id=image_id,
                    img_path=osp.join(self.data_prefix.get('img', ''), file_name), height=height, width=width,
                    ann_file=self.ann_file, rounds=rounds, masks=masks)

    @staticmethod
    def _check_refs(info: dict) -> List[str]:
        """Mask keys referenced by the rounds but absent from ``masks``."""
        keys = {str(k) for r in info['rounds'] for g in r['gt_keys'] for k in g}
        keys |= {str(k) for r in info['rounds'] for k in r['region_keys']}
        return sorted(keys - set(info['masks']))

    def check_files(self, infos: List[dict], n_records: int, report: CheckReport) -> None:
        """Mask validity and references, and the image files on disk."""
        sizes: Dict[str, Optional[Tuple[int, int]]] = {}  # image path -> (H, W), None when unreadable
        for info in infos:
            rid = f'{info["record_index"]} ({info["image_id"]})'
            path = info['img_path']
            if path not in sizes:
                sizes[path] = None
                if not osp.isfile(path):
                    report.problems.append(DataError('missing_image', self.ann_file, f'image {path} not found', rid))
                    continue
                try:
                    sizes[path] = decode_frame(path)  # decoded completely: a corrupt or truncated file is found
                except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, ... for broken files
                    report.problems.append(DataError('unreadable_image', self.ann_file, f'{path}: {exc}', rid))
                    continue
            if sizes[path] is None:
                continue
            height, width = sizes[path]
            for dim, actual in (('height', height), ('width', width)):
                if info[dim] is not None and info[dim] != actual:
                    report.problems.append(DataError('size_mismatch', self.ann_file,
                                                     f'record says {dim} {info[dim]}, {path} has {actual}', rid))
            for key, seg in info['masks'].items():
                try:
                    size = check_segmentation(seg, f'mask {key!r}')
                except MaskFormatError as exc:
                    report.problems.append(DataError('malformed_rle', self.ann_file, str(exc), rid))
                    continue
                if size is not None and size != (height, width):
                    report.problems.append(DataError(
                        'size_mismatch', self.ann_file,
                        f'mask {key!r} is {size[0]}x{size[1]} but {path} is {height}x{width}', rid))
            for key in self._check_refs(info):
                report.problems.append(DataError('unknown_object', self.ann_file,
                                                 f'object {key!r} is referenced but has no mask', rid))
        report.counts = dict(records=n_records, samples=len(infos), images=len(sizes),
                             rounds=sum(len(i['rounds']) for i in infos))


def pair_turns(conv: Any, bad) -> List[Tuple[str, str]]:
    """``[(question, answer)]`` of alternating human/gpt turns, or [] after reporting the problem."""
    if not isinstance(conv, list) or not all(isinstance(t, dict) and isinstance(t.get('value'), str) for t in conv):
        bad('schema', '"conversations" must be a list of {"from", "value"} turns')
        return []
    if not conv:
        bad('empty_conversation', '"conversations" is empty')
        return []
    if len(conv) % 2:
        bad('schema', f'"conversations" has {len(conv)} turns; expected human/gpt pairs')
        return []
    pairs = []
    for r in range(len(conv) // 2):
        human, gpt = conv[2 * r], conv[2 * r + 1]
        if human.get('from') != 'human' or gpt.get('from') != 'gpt':
            bad('schema', f'round {r}: turns must alternate human, gpt; got {human.get("from")!r}, {gpt.get("from")!r}')
            return []
        pairs.append((human['value'], gpt['value']))
    return pairs

