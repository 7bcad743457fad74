# Data pipelines of SAMA at the released input sizes (ViT 448 px -> 256 tokens per frame, SAM2 1024 px).
# The tokenizer and chat template are the 1B model's (configs/_base_/models/internvl_1b.py); configs of other
# sizes rebind them on every ChatTokenize (see configs/sama/sama_4b_*.py).
#
# Every pipeline is written as named steps (`*_steps`: step name -> transform config, None drops a step) and
# built into the list the datasets take (`*_pipeline`) with sama_mm.utils.pipeline.build_pipeline, so a derived
# pipeline changes a step by its name (a misspelt name is an error). The step names:
#   init, sample, decode      the frames (VideoInit/ImageInit, SampleFrames, VideoDecode)
#   rounds                    the conversation rounds (SAMA239KToRounds, RefVOSToRounds)
#   seg_masks, region_masks   [SEG] ground truth and <mask> region prompts
#   vit_image, sam2_image     the ViT and SAM2 inputs (sam2_frames: SAM2 reads the frames on demand at test time)
#   tokenize, qformer, pack   ChatTokenize, QFormerPrompts (the neck's input), PackSAMAInputs
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
from sama_mm.utils.pipeline import build_pipeline, edit_steps, insert_steps

with read_base():
    from ..models.internvl_1b import backbone_template, checkpoint_root

# The helpers themselves (imports are lazy while MMEngine reads a config); deleted at the end.
_build, _edit, _insert = build_pipeline.build(), edit_steps.build(), insert_steps.build()

# SAMA's context aggregator (the neck) reads one context token per sparse frame per round and the <mask> region
# prompts; False drops both and the QFormerPrompts step (Sa2VA style). A leaf config that imports these
# pipelines switches them and its model at once with sama_mm.utils.pipeline.without_neck(globals()).
with_neck = True
tokenizer = dict(type=AutoTokenizer.from_pretrained, pretrained_model_name_or_path=checkpoint_root + '/Sa2VA-1B',
                 trust_remote_code=False)
template = backbone_template
context_tokens = with_neck
# The temporal Q-Former's tokenizer: a local bert-base-uncased vocab (+ SAMA's specials), never downloaded.
qformer = dict(type=QFormerPrompts, tokenizer=dict(type=build_qformer_tokenizer,
                                                   vocab_file=checkpoint_root + '/bert-base-uncased'))

sampling = dict(interval=3, max_frames=32, min_frames=8, num_dense=5)
tokenize = dict(type=ChatTokenize, tokenizer=tokenizer, template=template, num_image_tokens=256,
                context_tokens=context_tokens, context_sep='\n', max_length=8192)
rvos_round = dict(type=RefVOSToRounds, question='Please segment {exp}.', answer='It is [SEG].')
# Training: the official sample of a whole video (the datasets' samples_per='video'): 5 expressions drawn with
# replacement, each with a drawn official question template and answer (docs/training.md).
rvos_train_round = dict(type=RefVOSToRounds, num_rounds=5)

# SAMA-239K multi-turn region conversations with grounded answers.
sama239k_train_steps = dict(
    init=dict(type=VideoInit),
    sample=dict(type=SampleFrames, dense_policy='uniform', **sampling),
    decode=dict(type=VideoDecode),
    rounds=dict(type=SAMA239KToRounds, task='conversation', max_rounds=4),
    seg_masks=dict(type=LoadSegMasks),
    vit_image=dict(type=InternVLImageTransform, image_size=448),
    sam2_image=dict(type=SAM2ImageTransform, image_size=1024),
    tokenize=dict(tokenize, context_sep=''),
    region_masks=dict(type=LoadRegionMasks, box=True),  # after tokenize: regions of rounds dropped for length go too
    qformer=qformer if with_neck else None,
    pack=dict(type=PackSAMAInputs),
)
sama239k_train_pipeline = _build(sama239k_train_steps)

# SAMA-239K descriptions (SAMA239KDataset(sample_mode='description'): <= 3 per sample): a drawn official
# detailed-description question per caption, a newline after the context tokens.
sama239k_description_train_steps = _edit(
    sama239k_train_steps, rounds=dict(task='description', max_rounds=None, description_questions='detailed'),
    tokenize=dict(context_sep='\n'))
sama239k_description_train_pipeline = _build(sama239k_description_train_steps)

# Referring VOS (MeViS mask dicts or Ref-YouTube-VOS PNGs): 5 expressions of a video (one [SEG] each), no region
# prompt.
rvos_train_steps = _edit(sama239k_train_steps, rounds=rvos_train_round, tokenize=dict(context_sep='\n'),
                         region_masks=None)
rvos_train_pipeline = _build(rvos_train_steps)
train_pipeline = sama239k_train_pipeline

# Referring VOS evaluation: a generation prompt (no answer), no masks loaded here (the metric reads the
# ground truth of every frame itself); SAM2 reads every frame of the video on demand for tracking.
rvos_test_steps = dict(
    init=dict(type=VideoInit),
    sample=dict(type=SampleFrames, dense_policy='first', **sampling),
    decode=dict(type=VideoDecode),
    rounds=rvos_round,
    vit_image=dict(type=InternVLImageTransform, image_size=448),
    tokenize=dict(tokenize, generation=True),
    qformer=qformer if with_neck else None,
    sam2_frames=dict(type=SAM2FrameSource, image_size=1024),
    pack=dict(type=PackSAMAInputs),
)
rvos_test_pipeline = _build(rvos_test_steps)
test_pipeline = rvos_test_pipeline

# SAMA-Bench-G: one question per sample (no history), its regions as box masks on the sparse frames, no newline
# after the context tokens (the official evaluation's prompt); SAM2 tracks every [SEG] through every frame.
sama_bench_g_test_steps = _insert(
    _edit(rvos_test_steps, rounds=dict(type=SAMA239KToRounds, task='conversation'), tokenize=dict(context_sep='')),
    after='tokenize', region_masks=dict(type=LoadRegionMasks, box=True))
sama_bench_g_test_pipeline = _build(sama_bench_g_test_steps)
# SAMA-Bench-C: "Please describe the region <mask> in the video in detail." with the raw (not boxed) mask and a
# newline after the context tokens, as the official caption evaluation. The raw masks reach both region encoders:
# LoadRegionMasks (mask pooling) and QFormerPrompts (the Q-Former's 112-pixel masks) keep them unboxed.
# SAM2 runs only if the answer has a [SEG].
sama_bench_c_test_steps = _edit(sama_bench_g_test_steps, rounds=dict(task='description'),
                                tokenize=dict(context_sep='\n'), region_masks=dict(box=False),
                                qformer=dict(box=False) if with_neck else None)
sama_bench_c_test_pipeline = _build(sama_bench_c_test_steps)

del _build, _edit, _insert  # helpers, not config values
