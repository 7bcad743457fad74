# Image pipelines of SAMA: an image is a one-frame video (ImageInit), so the frame, tokenizer and packing steps
# are the video ones; masks come from the COCO segmentations in the data info (LoadImageMasks). The ViT sees
# InternVL's dynamic tiles as the released training and RefCOCO/GCG evaluation do (DynamicTiles: 1-12 tiles of
# 448 plus a thumbnail, all in one <img> block, one context token per tile); SAM2 and the [SEG] targets stay on
# the whole image, so the SAM2 step comes before the tiles. image_vit = single_view gives the earlier one-448-view
# input instead (fewer tokens, not what released checkpoints saw). Written as named steps like the video
# pipelines (see sama_pipelines.py for the step names).
from mmengine.config import read_base

from sama_mm.datasets.transforms import (ChatTokenize, DynamicTiles, ImageInit, InternVLImageTransform,
                                         LoadImageMasks, PackSAMAInputs, SAM2ImageTransform, SampleFrames,
                                         VideoDecode)
from sama_mm.utils.pipeline import build_pipeline, edit_steps

with read_base():
    from .sama_pipelines import context_tokens, qformer, template, tokenizer, with_neck

# The helpers themselves (imports are lazy while MMEngine reads a config); deleted at the end.
_build, _edit = build_pipeline.build(), edit_steps.build()

# The ViT input of an image: dynamic tiles (official, default) or one 448 px view (single_view).
dynamic_tiles = dict(type=DynamicTiles, image_size=448, min_tiles=1, max_tiles=12, thumbnail=True,
                     resize_backend='pil')
single_view = dict(type=InternVLImageTransform, image_size=448)
image_vit = dynamic_tiles

image_frames = dict(init=dict(type=ImageInit),
                    sample=dict(type=SampleFrames, interval=1, max_frames=1, min_frames=1, num_dense=1),
                    decode=dict(type=VideoDecode))
# The released image training prompts (GCG, Osprey, LLaVA): '<img>...</img>\n' + context tokens + '\n' + question.
image_tokenize = dict(type=ChatTokenize, tokenizer=tokenizer, template=template, num_image_tokens=256,
                      context_tokens=context_tokens, context_sep='\n', frames_sep='\n', max_length=8192)

# Referring segmentation and grounded captions (RefCOCO/+/g, GCG): [SEG] ground truth on the image.
image_seg_train_steps = dict(
    **image_frames,
    seg_masks=dict(type=LoadImageMasks, targets=('gt', )),
    sam2_image=dict(type=SAM2ImageTransform, image_size=1024),
    vit_image=image_vit,
    tokenize=image_tokenize,
    qformer=qformer if with_neck else None,
    pack=dict(type=PackSAMAInputs),
)
image_seg_train_pipeline = _build(image_seg_train_steps)
# RefCOCO training has no newline after the image block nor after the context tokens (reference section 1.6),
# and the released loader writes its own user block with no separator after answers (the 1B's qwen_chat becomes
# qwen_chat_refcoco, golden test; other templates are kept as they are). refcoco_template = template: our option.
refcoco_template = 'qwen_chat_refcoco' if template == 'qwen_chat' else template
refcoco_train_steps = _edit(image_seg_train_steps,
                            tokenize=dict(context_sep='', frames_sep='', template=refcoco_template))
refcoco_train_pipeline = _build(refcoco_train_steps)
# Osprey region chat: <mask> region prompts (boxes, on the thumbnail tile), no [SEG].
image_region_train_steps = dict(
    **image_frames,
    vit_image=image_vit,
    tokenize=image_tokenize,
    region_masks=dict(type=LoadImageMasks, targets=('region', ), box=True),
    qformer=qformer if with_neck else None,
    pack=dict(type=PackSAMAInputs),
)
image_region_train_pipeline = _build(image_region_train_steps)
# LLaVA visual chat: text answers only; the released loader writes no separator after an answer (the 1B's
# qwen_chat becomes qwen_chat_nosep, golden test). llava_template = template: our option.
llava_template = 'qwen_chat_nosep' if template == 'qwen_chat' else template
image_chat_train_steps = _edit(image_region_train_steps, region_masks=None, tokenize=dict(template=llava_template))
image_chat_train_pipeline = _build(image_chat_train_steps)

# Evaluation: a generation prompt; SAM2 segments the image (one frame) for every generated [SEG]. The metrics
# read the ground truth from the annotation files, so no mask is loaded here. The released inference (the HF
# predict_forward that refcoco_eval.py and gcg_eval.py call) writes the context tokens right after the image block
# and a newline after them for every image, RefCOCO included (its training prompt has none; refcoco_train_steps).
refcoco_test_steps = dict(
    **image_frames,
    sam2_image=dict(type=SAM2ImageTransform, image_size=1024),
    vit_image=image_vit,
    tokenize=dict(image_tokenize, context_sep='\n', frames_sep='', generation=True),
    qformer=qformer if with_neck else None,
    pack=dict(type=PackSAMAInputs),
)
refcoco_test_pipeline = _build(refcoco_test_steps)
gcg_test_steps = _edit(refcoco_test_steps)  # the same prompt layout
gcg_test_pipeline = _build(gcg_test_steps)

del _build, _edit  # helpers, not config values
