# The tiny demo SAMA on the evaluation sets of configs/_base_/datasets/{rvos,image,sama_bench}_test.py: the
# released test pipelines with every size-dependent step rebound to the tiny model (tokenizer, template, tokens
# per frame, image sizes, frame sampling, Q-Former). Run from a folder whose data/ holds the (fake) data sets.
from mmengine.config import read_base

with read_base():
    from ....configs._base_.datasets.image_test import (gcg_val_loader, gcg_val_metric, refcoco_val_loader,
                                                         refcoco_val_metric)
    from ....configs._base_.datasets.rvos_test import (refdavis17_valid_loader, refdavis17_valid_metric,
                                                        revos_valid_loader, revos_valid_metric)
    from ....configs._base_.datasets.sama_bench_test import (sama_bench_c_loader, sama_bench_c_metric,
                                                              sama_bench_g_loader, sama_bench_g_metric)
    from ....configs.demo.sama_tiny_demo import *  # noqa: F401,F403

model.update(max_new_tokens=4)  # noqa: F405
_sizes = {448: tiny_image_size, 1024: 256}  # noqa: F405


def _tiny_step(step):
    if 'template' in step:  # ChatTokenize
        return dict(step, tokenizer=backbone['tokenizer'], template=tiny_template, num_image_tokens=4)  # noqa: F405
    if 'tokenizer' in step:  # QFormerPrompts
        return qformer  # noqa: F405
    if 'max_frames' in step:  # SampleFrames
        return dict(step, **sampling)  # noqa: F405
    if 'image_size' in step:
        return dict(step, image_size=_sizes[step['image_size']])
    return step


def _tiny(loader):
    loader = dict(loader, num_workers=0)
    dataset = loader['dataset']
    if 'datasets' in dataset:
        parts = [dict(d, pipeline=[_tiny_step(s) for s in d['pipeline']]) for d in dataset['datasets']]
        loader['dataset'] = dict(dataset, datasets=parts)
    else:
        loader['dataset'] = dict(dataset, pipeline=[_tiny_step(s) for s in dataset['pipeline']])
    return loader


tiny_revos_loader = _tiny(revos_valid_loader)
tiny_refdavis17_loader = _tiny(refdavis17_valid_loader)
tiny_refcoco_loader = _tiny(refcoco_val_loader)
tiny_gcg_loader = _tiny(gcg_val_loader)
tiny_bench_g_loader = _tiny(sama_bench_g_loader)
tiny_bench_c_loader = _tiny(sama_bench_c_loader)
# No BERT similarity (recall), METEOR (Java) or CLAIR in the tiny runs: the other scores are kept.
tiny_bench_g_metric = dict(sama_bench_g_metric, similarity=None, meteor=False)
tiny_bench_c_metric = dict(sama_bench_c_metric, meteor=False)
tiny_gcg_metric = dict(gcg_val_metric, similarity=None, meteor=False)
tiny_revos_metric = revos_valid_metric
tiny_refdavis17_metric = refdavis17_valid_metric
tiny_refcoco_metric = refcoco_val_metric
val_dataloader = None
val_evaluator = None
val_cfg = None
train_dataloader = None
train_cfg = None
optim_wrapper = None
param_scheduler = None  # a test-only run: MMEngine refuses a scheduler without an optimizer

# Helpers and what the tiny loaders replace: not config values (and the Runner dumps the config, slowly).
del _sizes, _tiny_step, _tiny
del (revos_valid_loader, refdavis17_valid_loader, refcoco_val_loader, gcg_val_loader, sama_bench_g_loader,
     sama_bench_c_loader, revos_valid_metric, refdavis17_valid_metric, refcoco_val_metric, gcg_val_metric,
     sama_bench_g_metric, sama_bench_c_metric)
del (sama239k_demo, mevis_demo_train, rvos_demo_train, mevis_demo_valid_u, rvos_demo_valid,  # noqa: F821
     sama239k_train_pipeline, rvos_train_pipeline, test_pipeline, frames, images, rvos_round)  # noqa: F821
