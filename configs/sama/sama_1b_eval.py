# SAMA-1B with every evaluation set of configs/_base_/datasets/{rvos,image,sama_bench}_test.py, their test
# pipelines bound to this model's tokenizer and chat template. The base of the sama_1b_test_<set>.py leaves,
# which pick one loader and its metric. For SAMA-4B/8B, copy this file with their mixture config imported.
from mmengine.config import read_base
from mmengine.runner import TestLoop

with read_base():
    from .._base_.datasets.image_test import *  # noqa: F401,F403
    from .._base_.datasets.rvos_test import *  # noqa: F401,F403
    from .._base_.datasets.sama_bench_test import *  # noqa: F401,F403
    from .sama_1b_mixture import *  # noqa: F401,F403

test_cfg = dict(type=TestLoop)
for _loader in (mevis_valid_u_loader, mevis_valid_loader, refytvos_valid_loader, revos_valid_loader,  # noqa: F405
                refdavis17_valid_loader, refcoco_val_loader, refcoco_testA_loader, refcoco_testB_loader,  # noqa: F405
                refcocoplus_val_loader, refcocoplus_testA_loader, refcocoplus_testB_loader,  # noqa: F405
                refcocog_val_loader, refcocog_test_loader, gcg_val_loader, gcg_test_loader,  # noqa: F405
                sama_bench_g_loader, sama_bench_c_loader):  # noqa: F405
    for _dataset in _loader['dataset'].get('datasets', [_loader['dataset']]):
        for _step in _dataset['pipeline']:
            if 'tokenizer' in _step and 'template' in _step:  # ChatTokenize
                _step.update(tokenizer=backbone['tokenizer'], template=backbone_template)  # noqa: F405
del _loader, _dataset, _step
