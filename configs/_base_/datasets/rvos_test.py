# Referring-VOS evaluation sets (reference section 3.3 layouts under `data_root`), each a test dataloader and
# its evaluator. MeViS valid_u, ReVOS valid (J, F, J&F, A, R per type) and Ref-DAVIS17 valid are scored
# locally; MeViS valid and Ref-YouTube-VOS valid are scored by their servers: format_only writes the exact
# submission layout and zip under `submission_root`.
# Ref-DAVIS17's masks are the released pickle converted once:
#   python data_converters/pickle_to_json.py data/video_datas/davis17/valid/mask_dict.pkl \
#       data/video_datas/davis17/valid/mask_dict.json --trust-pickle-code-execution
# Pick one with a leaf config: `test_dataloader = mevis_valid_u_loader; test_evaluator = mevis_valid_u_metric`.
from mmengine.config import read_base
from mmengine.dataset import DefaultSampler

from sama_mm.datasets import RefDAVIS17Dataset, RefVOSDataset, ReVOSDataset, sama_collate
from sama_mm.evaluation.metrics import RVOSMetric

with read_base():
    from .sama_pipelines import *  # noqa: F401,F403

data_root = 'data/'
submission_root = 'work_dirs/submissions/'
mevis_root = data_root + 'video_datas/mevis/'
rvos_root = data_root + 'video_datas/rvos/'
revos_root = data_root + 'video_datas/revos/'
davis_root = data_root + 'video_datas/davis17/'


def _loader(dataset):
    return dict(batch_size=1, num_workers=2, collate_fn=dict(type=sama_collate),
                sampler=dict(type=DefaultSampler, shuffle=False), dataset=dataset)


mevis_valid_u_loader = _loader(dict(type=RefVOSDataset, data_root=mevis_root + 'valid_u/',
                                    ann_file='meta_expressions.json', mask_file='mask_dict.json', test_mode=True,
                                    pipeline=rvos_test_pipeline))  # noqa: F405
mevis_valid_u_metric = dict(type=RVOSMetric, ann_file=mevis_root + 'valid_u/meta_expressions.json',
                            mask_file=mevis_root + 'valid_u/mask_dict.json',
                            server='mevis')  # the layout --format-only writes (valid_u itself is scored here)

mevis_valid_loader = _loader(dict(type=RefVOSDataset, data_root=mevis_root + 'valid/',
                                  ann_file='meta_expressions.json', test_mode=True,
                                  pipeline=rvos_test_pipeline))  # noqa: F405
mevis_valid_metric = dict(type=RVOSMetric, ann_file=mevis_root + 'valid/meta_expressions.json', format_only=True,
                          server='mevis', outfile_prefix=submission_root + 'mevis_valid')

refytvos_valid_loader = _loader(dict(type=RefVOSDataset, data_root=rvos_root,
                                     ann_file='meta_expressions/valid/meta_expressions.json',
                                     data_prefix=dict(video='valid/JPEGImages'), test_mode=True,
                                     pipeline=rvos_test_pipeline))  # noqa: F405
refytvos_valid_metric = dict(type=RVOSMetric, ann_file=rvos_root + 'meta_expressions/valid/meta_expressions.json',
                             format_only=True, server='refytvos', outfile_prefix=submission_root + 'refytvos_valid')

# ReVOS valid: every expression is predicted; type 2 is left out of the scores (ReVOS protocol).
revos_valid_loader = _loader(dict(type=ReVOSDataset, data_root=revos_root, ann_file='meta_expressions_valid_.json',
                                  mask_file='mask_dict.json', test_mode=True,
                                  pipeline=rvos_test_pipeline))  # noqa: F405
revos_valid_metric = dict(type=RVOSMetric, ann_file=revos_root + 'meta_expressions_valid_.json',
                          mask_file=revos_root + 'mask_dict.json',
                          foreground_file=revos_root + 'mask_dict_foreground.json')

refdavis17_valid_loader = _loader(dict(type=RefDAVIS17Dataset, data_root=davis_root,
                                       ann_file='meta_expressions/valid/meta_expressions.json',
                                       mask_file='valid/mask_dict.json', data_prefix=dict(video='valid/JPEGImages'),
                                       test_mode=True, pipeline=rvos_test_pipeline))  # noqa: F405
refdavis17_valid_metric = dict(type=RVOSMetric, ann_file=davis_root + 'meta_expressions/valid/meta_expressions.json',
                               mask_file=davis_root + 'valid/mask_dict.json', counter_order='sorted')

del _loader  # a helper, not a config value (functions cannot be dumped with the config)
