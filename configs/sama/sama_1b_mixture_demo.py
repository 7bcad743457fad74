# The SAMA-1B training mixture's video sources on the demo data (python data_converters/build_demo_data.py):
# MeViS and Ref-YouTube-VOS (one sample per video, x4) and SAMA-239K conversations and descriptions (x5), with the
# 1B pipelines but the tiny model's tokenizers, so that it reads on a CPU without checkpoints. For inspecting a
# mixture (tools/analysis/mixture_stats.py, docs/training.md), not for training a real model.
from mmengine.config import read_base

from sama_mm.tokenizers import build_qformer_tokenizer, build_tiny_tokenizer
from sama_mm.utils.pipeline import update_transforms

with read_base():
    from .sama_1b_mixture import *  # noqa: F401,F403

demo_root = 'data/demo/'
demo_sources = [
    (dict(mevis_source, data_root=demo_root + 'mevis/train/'), 4, 'mevis'),  # noqa: F405
    (dict(rvos_source, data_root=demo_root + 'rvos/'), 4, 'ref_ytvos'),  # noqa: F405
    (dict(sama239k_conversation, data_root=demo_root,  # noqa: F405
          mask_dicts=dict(mevis='mevis_train_mask_dict.json')), sama239k_repeat, 'sama239k_conversation'),  # noqa: F405
    (dict(sama239k_description, data_root=demo_root,  # noqa: F405
          mask_dicts=dict(mevis='mevis_train_mask_dict.json')), sama239k_repeat, 'sama239k_description'),  # noqa: F405
]
# The tiny tokenizers on every step that tokenizes, ChatTokenize (LLM) and QFormerPrompts (Q-Former), in copies of
# the sources' steps (.build(): the function itself, as imports are lazy while MMEngine reads a config).
demo_tokenizer = dict(type=build_tiny_tokenizer, vocab_size=512, template='qwen_chat')
demo_datasets = [dict(source, pipeline=[dict(step) for step in source['pipeline']]) for source, _, _ in demo_sources]
update_transforms.build()(demo_datasets, 'ChatTokenize', tokenizer=demo_tokenizer, template='qwen_chat')
update_transforms.build()(demo_datasets, 'QFormerPrompts', tokenizer=dict(type=build_qformer_tokenizer, tiny=True))
train_dataloader['dataset'].update(  # noqa: F405
    datasets=demo_datasets, repeats=[r for _, r, _ in demo_sources], names=[n for _, _, n in demo_sources],
    official_lengths=[official_family_lengths.get(n, (100, True)) for _, _, n in demo_sources])  # noqa: F405
