# Image pipelines of SAMA: an image is a one-frame video (ImageInit), so the frame, tokenizer and packing steps
# are the video ones; masks come from the COCO segmentations in the data info (LoadImageMasks). No tiling: one
# 448 px view per image (the reference uses InternVL dynamic tiles; not implemented here).
from mmengine.config import read_base

from sama_mm.datasets.transforms import (ChatTokenize, ImageInit, InternVLImageTransform, LoadImageMasks,
                                         PackSAMAInputs, SAM2ImageTransform, SampleFrames, VideoDecode)

with read_base():
    from .sama_pipelines import context_tokens, qformer, template, tokenizer

_frames = [dict(type=ImageInit), dict(type=SampleFrames, interval=1, max_frames=1, min_frames=1, num_dense=1),
           dict(type=VideoDecode)]
_tokenize = dict(type=ChatTokenize, tokenizer=tokenizer, template=template, num_image_tokens=256,
                 context_tokens=context_tokens, context_sep='\n', max_length=8192)

# Referring segmentation and grounded captions (RefCOCO/+/g, GCG): [SEG] ground truth on the image.
image_seg_train_pipeline = _frames + [
    dict(type=LoadImageMasks, targets=('gt', )),
    dict(type=InternVLImageTransform, image_size=448),
    dict(type=SAM2ImageTransform, image_size=1024),
    _tokenize,
    qformer,
    dict(type=PackSAMAInputs),
]
# RefCOCO has no newline after the context tokens (reference section 1.6).
refcoco_train_pipeline = [dict(step, context_sep='') if step is _tokenize else step for step in image_seg_train_pipeline]
# Osprey region chat: <mask> region prompts (boxes), no [SEG].
image_region_train_pipeline = _frames + [
    dict(type=InternVLImageTransform, image_size=448),
    _tokenize,
    dict(type=LoadImageMasks, targets=('region', ), box=True),
    qformer,
    dict(type=PackSAMAInputs),
]
# LLaVA visual chat: text answers only.
image_chat_train_pipeline = _frames + [
    dict(type=InternVLImageTransform, image_size=448),
    _tokenize,
    qformer,
    dict(type=PackSAMAInputs),
]

# Evaluation: a generation prompt; SAM2 segments the image (one frame) for every generated [SEG]. The metrics
# read the ground truth from the annotation files, so no mask is loaded here.
refcoco_test_pipeline = _frames + [
    dict(type=InternVLImageTransform, image_size=448),
    dict(type=SAM2ImageTransform, image_size=1024),
    dict(_tokenize, context_sep='', generation=True),
    qformer,
    dict(type=PackSAMAInputs),
]
gcg_test_pipeline = [dict(step, context_sep='\n') if 'context_sep' in step else step  # ChatTokenize
                     for step in refcoco_test_pipeline]
