# A leaf config changing test-pipeline steps by name (tests/datasets/test_named_pipelines.py): MeViS valid_u with a
# shorter prompt budget and 16 sparse frames. The named steps are copied into this file when it is read, so the
# change reaches the loader only through the pipeline built and assigned here.
from mmengine.config import read_base

from sama_mm.utils.pipeline import build_pipeline

with read_base():
    from ....configs.sama.sama_1b_test_mevis_valid_u import *  # noqa: F401,F403

test_dataloader.dataset.pipeline = build_pipeline.build()(  # noqa: F405
    rvos_test_steps, tokenize=dict(max_length=4096), sample=dict(max_frames=16))  # noqa: F405
# Editing the named steps in place changes nothing that a base config already built (the other loaders).
rvos_test_steps['tokenize']['max_length'] = 1  # noqa: F405
