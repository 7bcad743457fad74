# SAMA-4B: InternVL2.5-4B (Qwen2.5-3B, H=2048; phi3_chat template as released) + STAggregator + SAM2-Hiera-L,
# the released architecture, trained with the reference recipe (frozen ViT and LLM; mlp1, the aggregator,
# text_hidden_fcs and the SAM2 mask decoder train; AdamW 4e-5, 1 epoch, bf16) on the reference multitask mixture.
# Start from a converted Sa2VA-4B checkpoint: --cfg-options load_from=work_dirs/sa2va_4b (the folder
# tools/convert/from_hf.py writes).
from mmengine.config import read_base

from sama_mm.models import SAMA, SAMADataPreprocessor
from sama_mm.utils.pipeline import update_transforms

with read_base():
    from .._base_.datasets.sama_mixture import *  # noqa: F401,F403
    from .._base_.default_runtime import *  # noqa: F401,F403
    from .._base_.models.internvl_4b import *  # noqa: F401,F403
    from .._base_.models.sam2_large import *  # noqa: F401,F403
    from .._base_.models.st_aggregator import *  # noqa: F401,F403
    from .._base_.schedules.sama_1epoch import *  # noqa: F401,F403

# The 4B recipe repeats the two SAMA-239K sources 3 times (1B and 8B: 5).
mixture = train_dataloader['dataset']  # noqa: F405
mixture['repeats'] = [3 if name.startswith('sama239k') else times
                      for name, times in zip(mixture['names'], mixture['repeats'])]
model = dict(type=SAMA, backbone=backbone, neck=neck, seg_head=seg_head,  # noqa: F405
             data_preprocessor=dict(type=SAMADataPreprocessor, pixel_dtype='bfloat16'),
             max_new_tokens=2048)  # the released inference's limit: long grounded captions are not cut

# The pipelines default to the 1B tokenizer and template: bind this model's to every ChatTokenize of the config
# (.build(): the function itself, as imports are lazy while MMEngine reads a config).
update_transforms.build()(globals(), 'ChatTokenize', tokenizer=backbone['tokenizer'],  # noqa: F405
                          template=backbone_template)  # noqa: F405
