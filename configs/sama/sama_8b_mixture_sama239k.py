# SAMA-8B trained on the 1B recipe's mixture: the released 8B mixture (configs/sama/sama_8b_mixture.py) plus the two
# SAMA-239K sources (conversations and region descriptions, x5 each, last in the mixture as in the 1B/4B configs).
# A named option, not the released 8B config: that one leaves SAMA-239K out (see docs/training.md).
from mmengine.config import read_base

with read_base():
    from .sama_8b_mixture import *  # noqa: F401,F403

# The two sources, their ChatTokenize already bound to this model's tokenizer and template (sama_8b_mixture.py
# binds every ChatTokenize of the config).
sama239k_sources_8b = [sama239k_conversation, sama239k_description]  # noqa: F405
train_dataloader['dataset'].update(  # noqa: F405
    datasets=train_dataloader['dataset']['datasets'] + sama239k_sources_8b,  # noqa: F405
    repeats=train_dataloader['dataset']['repeats'] + [sama239k_repeat] * 2,  # noqa: F405
    names=train_dataloader['dataset']['names'] + ['sama239k_conversation', 'sama239k_description'],  # noqa: F405
    official_lengths=train_dataloader['dataset']['official_lengths'] + [(100, True)] * 2)  # noqa: F405
