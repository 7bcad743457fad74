# SAMA-1B: InternVL2.5-1B (Qwen2.5-0.5B, H=896) + STAggregator + SAM2-Hiera-L, the released architecture, trained
# with the reference recipe (frozen ViT and LLM; mlp1, the aggregator, text_hidden_fcs and the SAM2 mask
# decoder train; AdamW 4e-5, 1 epoch, bf16) on the reference multitask mixture. Start from a converted Sa2VA-1B
# checkpoint: --cfg-options load_from=work_dirs/sa2va_1b (the folder tools/convert/from_hf.py writes).
from mmengine.config import read_base

from sama_mm.models import SAMA, SAMADataPreprocessor

with read_base():
    from .._base_.datasets.sama_mixture import *  # noqa: F401,F403
    from .._base_.default_runtime import *  # noqa: F401,F403
    from .._base_.models.internvl_1b import *  # noqa: F401,F403
    from .._base_.models.sam2_large import *  # noqa: F401,F403
    from .._base_.models.st_aggregator import *  # noqa: F401,F403
    from .._base_.schedules.sama_1epoch import *  # noqa: F401,F403

model = dict(type=SAMA, backbone=backbone, neck=neck, seg_head=seg_head,  # noqa: F405
             data_preprocessor=dict(type=SAMADataPreprocessor, pixel_dtype='bfloat16'),
             max_new_tokens=2048)  # the released inference's limit: long grounded captions are not cut
