# SAMA-Bench (reference section 3.2): 522 validation videos of MeViS, LV-VIS, Ref-YouTube-VOS and VidSTG in 13
# files under `sama_bench_root`, with their validation mask dicts. Each is a test dataloader and its evaluator:
# * Bench-G: every question answered on its own (no history), scored by mIoU, recall (BERT phrase similarity),
#   caption scores and, when `clair` is set, CLAIR (an OpenAI-compatible judge; see ClairJudge);
# * Bench-C: one region caption per described object, scored by caption scores (and CLAIR).
from mmengine.config import read_base
from mmengine.dataset import ConcatDataset, DefaultSampler

from sama_mm.datasets import SAMABenchDataset, sama_collate
from sama_mm.evaluation.metrics import SAMABenchCMetric, SAMABenchGMetric

with read_base():
    from ..models.internvl_1b import checkpoint_root
    from .sama_pipelines import sama_bench_c_test_pipeline, sama_bench_g_test_pipeline

sama_bench_root = 'data/sama_bench/'
sama_bench_files = (['mevis.json', 'lvvis_0.json', 'lvvis_1.json', 'ref_youtube_vos_0.json', 'ref_youtube_vos_1.json']
                    + [f'VidSTG_{i}.json' for i in range(8)])
# Video-path substring -> validation mask dict (the official evaluation's choice of dict).
sama_bench_mask_dicts = dict(mevis='Mevis_mask_dict_val.json', lvvis='LVVIS_mask_dict_val.json',
                             ref_youtube_vos='RefYoutube_mask_dict_val.json',
                             VidSTG='VidSTG_mask_dict_val_updated.json')
sama_bench_similarity = dict(type='SentenceEmbeddingSimilarity', model_path=checkpoint_root + '/bert-base-uncased')
# CLAIR judge (ClairJudge), off by default: e.g. dict(base_url='https://api.openai.com/v1', model='gpt-3.5-turbo');
# answers are cached in ~/.cache/sama_mm/clair (cache_dir=...), so a rerun costs nothing.
sama_bench_clair = None


def _bench_loader(task, pipeline):
    parts = [dict(type=SAMABenchDataset, data_root=sama_bench_root, ann_file=name, task=task,
                  mask_dicts=sama_bench_mask_dicts, test_mode=True, pipeline=pipeline) for name in sama_bench_files]
    return dict(batch_size=1, num_workers=2, collate_fn=dict(type=sama_collate),
                sampler=dict(type=DefaultSampler, shuffle=False),
                dataset=dict(type=ConcatDataset, datasets=parts))


sama_bench_g_loader = _bench_loader('grounding', sama_bench_g_test_pipeline)
sama_bench_g_metric = dict(type=SAMABenchGMetric, ann_file=[sama_bench_root + f for f in sama_bench_files],
                           mask_dicts={k: sama_bench_root + v for k, v in sama_bench_mask_dicts.items()},
                           similarity=sama_bench_similarity, clair=sama_bench_clair)
sama_bench_c_loader = _bench_loader('caption', sama_bench_c_test_pipeline)
sama_bench_c_metric = dict(type=SAMABenchCMetric, ann_file=[sama_bench_root + f for f in sama_bench_files],
                           clair=sama_bench_clair)

del _bench_loader  # a helper, not a config value (functions cannot be dumped with the config)
