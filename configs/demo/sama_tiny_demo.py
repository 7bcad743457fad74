# The tiny SAMA (Sa2VA-style, no neck) trained on the demo data on CPU: the README's main job.
# Same classes as the released models at toy sizes: InternViT 2x32 at 56 px (4 tokens per frame), Qwen2 2x64,
# SAM2-Hiera-T at 256 px; random init, trained end to end on the demo referring-VOS clips (LLM and ViT
# unfrozen, unlike the reference recipe, so that a random tiny LLM can learn to answer with [SEG]).
from mmengine.config import read_base
from mmengine.dataset import ConcatDataset, DefaultSampler, pseudo_collate
from mmengine.optim import OptimWrapper
from mmengine.runner import IterBasedTrainLoop, TestLoop, ValLoop
from torch.optim import AdamW

from sama_mm.datasets.transforms import (ChatTokenize, InternVLImageTransform, LoadSegMasks, PackSAMAInputs,
                                         RefVOSToRounds, SAM2FrameSource, SAM2ImageTransform, SampleFrames,
                                         VideoDecode, VideoInit)
from sama_mm.evaluation.metrics import RVOSMetric
from sama_mm.models import SAMA, SAMADataPreprocessor

with read_base():
    from .._base_.datasets.demo import *  # noqa: F401,F403
    from .._base_.default_runtime import *  # noqa: F401,F403
    from .._base_.models.internvl_tiny import *  # noqa: F401,F403
    from .._base_.models.sam2_tiny_256 import *  # noqa: F401,F403

backbone.update(freeze_vision=False, freeze_llm=False)  # noqa: F405
model = dict(type=SAMA, backbone=backbone, seg_head=seg_head, neck=None,  # noqa: F405
             data_preprocessor=dict(type=SAMADataPreprocessor), max_new_tokens=16, sam2_prompt_frames='dense')

# Pipelines at the tiny input sizes: 8 sparse frames (every 3rd), 2 dense frames.
tokenizer = backbone['tokenizer']  # noqa: F405
sampling = dict(interval=3, max_frames=8, min_frames=4, num_dense=2)
chat = dict(type=ChatTokenize, tokenizer=tokenizer, template=tiny_template, num_image_tokens=4,  # noqa: F405
            context_tokens=False, max_length=1024)
train_pipeline = [
    dict(type=VideoInit),
    dict(type=SampleFrames, dense_policy='uniform', **sampling),
    dict(type=VideoDecode),
    dict(type=RefVOSToRounds, question='Please segment {exp}.', answer='It is [SEG].'),
    dict(type=LoadSegMasks),
    dict(type=InternVLImageTransform, image_size=tiny_image_size),  # noqa: F405
    dict(type=SAM2ImageTransform, image_size=256),
    chat,
    dict(type=PackSAMAInputs),
]
test_pipeline = [
    dict(type=VideoInit),
    dict(type=SampleFrames, dense_policy='first', **sampling),
    dict(type=VideoDecode),
    dict(type=RefVOSToRounds, question='Please segment {exp}.', answer='It is [SEG].'),
    dict(type=InternVLImageTransform, image_size=tiny_image_size),  # noqa: F405
    dict(chat, generation=True),
    dict(type=SAM2FrameSource, image_size=256),
    dict(type=PackSAMAInputs),
]

train_dataloader = dict(
    batch_size=2, num_workers=0, collate_fn=dict(type=pseudo_collate),
    sampler=dict(type=DefaultSampler, shuffle=True),
    dataset=dict(type=ConcatDataset, datasets=[dict(mevis_demo_train, pipeline=train_pipeline),  # noqa: F405
                                               dict(rvos_demo_train, pipeline=train_pipeline)]))  # noqa: F405
val_dataloader = dict(
    batch_size=1, num_workers=0, collate_fn=dict(type=pseudo_collate),
    sampler=dict(type=DefaultSampler, shuffle=False),
    dataset=dict(mevis_demo_valid_u, pipeline=test_pipeline))  # noqa: F405
test_dataloader = val_dataloader
val_evaluator = dict(type=RVOSMetric, ann_file=demo_root + 'mevis/valid_u/meta_expressions.json',  # noqa: F405
                     mask_file=demo_root + 'mevis/valid_u/mask_dict.json')  # noqa: F405
test_evaluator = val_evaluator

max_iters = 300
train_cfg = dict(type=IterBasedTrainLoop, max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type=ValLoop)
test_cfg = dict(type=TestLoop)
optim_wrapper = dict(type=OptimWrapper, optimizer=dict(type=AdamW, lr=1e-3, weight_decay=0.0),
                     clip_grad=dict(max_norm=1.0))
default_hooks.logger.interval = 20  # noqa: F405
default_hooks.checkpoint.interval = max_iters  # noqa: F405
