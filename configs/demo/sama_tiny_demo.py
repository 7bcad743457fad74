# The tiny SAMA trained on the demo data on CPU: the README's main job.
# Same classes as the released models at toy sizes: InternViT 2x32 at 56 px (4 tokens per frame), Qwen2 2x64,
# the STAggregator with 2 spatial / 1 temporal Q-Former layers of width 32, SAM2-Hiera-T at 256 px; random
# init, trained on the demo SAMA-239K region conversations and referring-VOS clips. Unlike the reference
# recipe the LLM and ViT train too, so that a random tiny LLM can learn to answer with [SEG].
from mmengine.config import read_base
from mmengine.dataset import ConcatDataset, DefaultSampler
from mmengine.optim import CosineAnnealingLR, LinearLR
from mmengine.runner import TestLoop, ValLoop
from torch.optim import AdamW

from sama_mm.datasets import ResumableInfiniteSampler, sama_collate
from sama_mm.datasets.transforms import (ChatTokenize, InternVLImageTransform, LoadRegionMasks, LoadSegMasks,
                                         PackSAMAInputs, QFormerPrompts, RefVOSToRounds, SAM2FrameSource,
                                         SAM2ImageTransform, SAMA239KToRounds, SampleFrames, VideoDecode,
                                         VideoInit)
from sama_mm.engine import GuardedOptimWrapper
from sama_mm.engine.hooks import ProgressBarHook
from sama_mm.engine.loops import ResumableIterBasedTrainLoop
from sama_mm.evaluation.metrics import RVOSMetric
from sama_mm.models import SAMA, SAMADataPreprocessor
from sama_mm.tokenizers import build_qformer_tokenizer
from sama_mm.utils.pipeline import build_pipeline

with read_base():
    from .._base_.datasets.demo import *  # noqa: F401,F403
    from .._base_.default_runtime import *  # noqa: F401,F403
    from .._base_.models.internvl_tiny import *  # noqa: F401,F403
    from .._base_.models.sam2_tiny_256 import *  # noqa: F401,F403
    from .._base_.models.st_aggregator_tiny import *  # noqa: F401,F403

# The helpers themselves (imports are lazy while MMEngine reads a config); deleted at the end.
_build = build_pipeline.build()

# SAMA's context aggregator: False drops the neck from the model and, from every pipeline below, its
# QFormerPrompts step and the context tokens of ChatTokenize (Sa2VA style). A config that imports this one
# switches it with sama_mm.utils.pipeline.without_neck(globals()) instead (see sa2va_tiny_demo.py).
with_neck = True
backbone.update(freeze_vision=False, freeze_llm=False)  # noqa: F405
model = dict(type=SAMA, backbone=backbone, neck=neck if with_neck else None, seg_head=seg_head,  # noqa: F405
             data_preprocessor=dict(type=SAMADataPreprocessor), max_new_tokens=16, sam2_prompt_frames='dense')

# Pipelines at the tiny sizes, as named steps (step names: configs/_base_/datasets/sama_pipelines.py): 8 sparse
# frames (every 3rd) -> 8 context tokens per round, 2 dense frames, 4 LLM tokens per frame (a 2x2 grid for region
# pooling).
sampling = dict(interval=3, max_frames=8, min_frames=4, num_dense=2)
chat = dict(type=ChatTokenize, tokenizer=backbone['tokenizer'], template=tiny_template,  # noqa: F405
            num_image_tokens=4, context_tokens=with_neck, max_length=1024)
qformer = dict(type=QFormerPrompts, tokenizer=dict(type=build_qformer_tokenizer, tiny=True), grid_size=2)
frames = dict(init=dict(type=VideoInit), sample=dict(type=SampleFrames, dense_policy='uniform', **sampling),
              decode=dict(type=VideoDecode))
images = dict(vit_image=dict(type=InternVLImageTransform, image_size=tiny_image_size),  # noqa: F405
              sam2_image=dict(type=SAM2ImageTransform, image_size=256))
# The demo conversations (data_converters/demo_texts.py) ask 'Please segment {exp}.' and answer by naming the
# object: '<p> The magenta diamond </p> [SEG].'. The referring-VOS clips (whose answers are fixed) are asked with
# another template, so the two answer styles never compete for one question; evaluation asks the demo's question.
rvos_round = dict(type=RefVOSToRounds, question='Can you segment {exp}?', answer='It is [SEG].')
test_round = dict(type=RefVOSToRounds, question='Please segment {exp}.', answer='It is [SEG].')  # answer: generated
sama239k_train_steps = dict(
    **frames,
    # seg_suffix='': the demo's chat questions carry no 'Response with interleaved segmentation masks.' suffix,
    # so neither do its training questions (the official data appends it to every question with a [SEG]).
    rounds=dict(type=SAMA239KToRounds, task='conversation', max_rounds=6, seg_suffix=''),
    seg_masks=dict(type=LoadSegMasks), **images,
    tokenize=dict(chat, context_sep=''),
    region_masks=dict(type=LoadRegionMasks, box=True), qformer=qformer if with_neck else None,
    pack=dict(type=PackSAMAInputs),
)
sama239k_train_pipeline = _build(sama239k_train_steps)
rvos_train_steps = dict(**frames, rounds=rvos_round, seg_masks=dict(type=LoadSegMasks), **images,
                        tokenize=dict(chat, context_sep='\n'), qformer=qformer if with_neck else None,
                        pack=dict(type=PackSAMAInputs))
rvos_train_pipeline = _build(rvos_train_steps)
test_steps = dict(
    frames, sample=dict(type=SampleFrames, dense_policy='first', **sampling),
    rounds=test_round, vit_image=images['vit_image'], tokenize=dict(chat, context_sep='\n', generation=True),
    qformer=qformer if with_neck else None, sam2_frames=dict(type=SAM2FrameSource, image_size=256),
    pack=dict(type=PackSAMAInputs),
)
test_pipeline = _build(test_steps)

train_dataloader = dict(
    batch_size=2, num_workers=0, collate_fn=dict(type=sama_collate),
    sampler=dict(type=ResumableInfiniteSampler, shuffle=True),
    # The SAMA-239K region conversations need the neck (their <mask> prompts are region tokens).
    dataset=dict(type=ConcatDataset, ignore_keys=['dataset_name'], datasets=[
        *([dict(sama239k_demo, pipeline=sama239k_train_pipeline)] if with_neck else []),  # noqa: F405
        dict(mevis_demo_train, pipeline=rvos_train_pipeline),  # noqa: F405
        dict(rvos_demo_train, pipeline=rvos_train_pipeline)]))  # noqa: F405
val_dataloader = dict(
    batch_size=1, num_workers=0, collate_fn=dict(type=sama_collate),
    sampler=dict(type=DefaultSampler, shuffle=False),
    dataset=dict(mevis_demo_valid_u, pipeline=test_pipeline))  # noqa: F405
test_dataloader = val_dataloader
val_evaluator = dict(type=RVOSMetric, ann_file=demo_root + 'mevis/valid_u/meta_expressions.json',  # noqa: F405
                     mask_file=demo_root + 'mevis/valid_u/mask_dict.json')  # noqa: F405
test_evaluator = val_evaluator

max_iters = 400
train_cfg = dict(type=ResumableIterBasedTrainLoop, max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type=ValLoop)
test_cfg = dict(type=TestLoop)
lr = 1.5e-3
optim_wrapper = dict(type=GuardedOptimWrapper, optimizer=dict(type=AdamW, lr=lr, weight_decay=0.0),
                     clip_grad=dict(max_norm=1.0))
# A short warm-up, then a cosine decay to the end: the last iterations settle the masks.
param_scheduler = [
    dict(type=LinearLR, start_factor=0.1, by_epoch=False, begin=0, end=10),
    dict(type=CosineAnnealingLR, by_epoch=False, begin=10, end=max_iters, T_max=max_iters - 10, eta_min=lr * 0.02),
]
default_hooks.logger.interval = 50  # noqa: F405
# The quickstart's progress bar with the time left (sama_mm/engine/hooks/progress_hook.py).
custom_hooks = [dict(type=ProgressBarHook, interval=25)]
default_hooks.checkpoint.interval = max_iters  # noqa: F405

del _build  # helpers, not config values
