# Data pipelines of SAMA at the released input sizes (ViT 448 px -> 256 tokens per frame, SAM2 1024 px).
# The tokenizer and chat template are the 1B model's (configs/_base_/models/internvl_1b.py); configs of other
# sizes rebind them on every step that has a `tokenizer` (see configs/sama/sama_4b_*.py).
#
# Dense frames: training uses dense_policy='uniform' (centres of 5 equal segments of the sparse frames, the
# reference's training rule, so SAM2 is supervised across the whole clip); testing uses dense_policy='first'
# (the first 5 sparse frames, the released inference rule). Both are deterministic.
from mmengine.config import read_base
from transformers import AutoTokenizer

from sama_mm.datasets.transforms import (ChatTokenize, InternVLImageTransform, LoadRegionMasks, LoadSegMasks,
                                         PackSAMAInputs, QFormerPrompts, RefVOSToRounds, SAM2FrameSource,
                                         SAM2ImageTransform, SAMA239KToRounds, SampleFrames, VideoDecode, VideoInit)
from sama_mm.tokenizers import build_qformer_tokenizer

with read_base():
    from ..models.internvl_1b import backbone_template, checkpoint_root

tokenizer = dict(type=AutoTokenizer.from_pretrained, pretrained_model_name_or_path=checkpoint_root + '/Sa2VA-1B',
                 trust_remote_code=False)
template = backbone_template
context_tokens = True   # SAMA: one context token per sparse frame per round, <mask> region prompts allowed.
# The temporal Q-Former's tokenizer: a local bert-base-uncased vocab (+ SAMA's specials), never downloaded.
qformer = dict(type=QFormerPrompts, tokenizer=dict(type=build_qformer_tokenizer,
                                                   vocab_file=checkpoint_root + '/bert-base-uncased'))

sampling = dict(interval=3, max_frames=32, min_frames=8, num_dense=5)

# SAMA-239K multi-turn region conversations with grounded answers.
sama239k_train_pipeline = [
    dict(type=VideoInit),
    dict(type=SampleFrames, dense_policy='uniform', **sampling),
    dict(type=VideoDecode),
    dict(type=SAMA239KToRounds, task='conversation', max_rounds=4),
    dict(type=LoadSegMasks),
    dict(type=InternVLImageTransform, image_size=448),
    dict(type=SAM2ImageTransform, image_size=1024),
    dict(type=ChatTokenize, tokenizer=tokenizer, template=template, num_image_tokens=256,
         context_tokens=context_tokens, context_sep='', max_length=8192),
    dict(type=LoadRegionMasks, box=True),  # after ChatTokenize: regions of rounds dropped for length go too
    qformer,
    dict(type=PackSAMAInputs),
]

# Referring VOS (MeViS mask dicts or Ref-YouTube-VOS PNGs): one expression, one [SEG].
rvos_train_pipeline = [
    dict(type=VideoInit),
    dict(type=SampleFrames, dense_policy='uniform', **sampling),
    dict(type=VideoDecode),
    dict(type=RefVOSToRounds, question='Please segment {exp}.', answer='It is [SEG].'),
    dict(type=LoadSegMasks),
    dict(type=InternVLImageTransform, image_size=448),
    dict(type=SAM2ImageTransform, image_size=1024),
    dict(type=ChatTokenize, tokenizer=tokenizer, template=template, num_image_tokens=256,
         context_tokens=context_tokens, context_sep='\n', max_length=8192),
    qformer,
    dict(type=PackSAMAInputs),
]
train_pipeline = sama239k_train_pipeline

# Referring VOS evaluation: a generation prompt (no answer), no masks loaded here (the metric reads the
# ground truth of every frame itself); SAM2 reads every frame of the video on demand for tracking.
rvos_test_pipeline = [
    dict(type=VideoInit),
    dict(type=SampleFrames, dense_policy='first', **sampling),
    dict(type=VideoDecode),
    dict(type=RefVOSToRounds, question='Please segment {exp}.', answer='It is [SEG].'),
    dict(type=InternVLImageTransform, image_size=448),
    dict(type=ChatTokenize, tokenizer=tokenizer, template=template, num_image_tokens=256,
         context_tokens=context_tokens, context_sep='\n', max_length=8192, generation=True),
    qformer,
    dict(type=SAM2FrameSource, image_size=1024),
    dict(type=PackSAMAInputs),
]
test_pipeline = rvos_test_pipeline

# SAMA-Bench-G: one question per sample (no history), its regions as box masks on the sparse frames, no newline
# after the context tokens (the official evaluation's prompt); SAM2 tracks every [SEG] through every frame.
sama_bench_g_test_pipeline = [
    dict(type=VideoInit),
    dict(type=SampleFrames, dense_policy='first', **sampling),
    dict(type=VideoDecode),
    dict(type=SAMA239KToRounds, task='conversation'),
    dict(type=InternVLImageTransform, image_size=448),
    dict(type=ChatTokenize, tokenizer=tokenizer, template=template, num_image_tokens=256,
         context_tokens=context_tokens, context_sep='', max_length=8192, generation=True),
    dict(type=LoadRegionMasks, box=True),
    qformer,
    dict(type=SAM2FrameSource, image_size=1024),
    dict(type=PackSAMAInputs),
]
# SAMA-Bench-C: "Please describe the region <mask> in the video in detail." with the raw (not boxed) mask and a
# newline after the context tokens, as the official caption evaluation. SAM2 runs only if the answer has a [SEG].
sama_bench_c_test_pipeline = [
    dict(step, task='description') if 'task' in step else  # SAMA239KToRounds
    dict(step, context_sep='\n') if 'context_sep' in step else  # ChatTokenize
    dict(step, box=False) if 'box' in step else step  # LoadRegionMasks
    for step in sama_bench_g_test_pipeline]
