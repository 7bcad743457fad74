"""The fake evaluation data tree (``data/`` as the configs expect it) and a random tiny-model checkpoint."""
import json
import os.path as osp

import torch

from tests.datasets import fakes


def build_eval_tree(root):
    """Write every evaluation set of configs/_base_/datasets/*_test.py under ``root/data`` (scaled down)."""
    data = osp.join(str(root), 'data')
    video = osp.join(data, 'video_datas')
    fakes.make_revos(osp.join(video, 'revos'))
    fakes.make_davis(osp.join(video, 'davis17'))
    coco = osp.join(data, 'coco2014', 'train2014')
    for name, refs in (('refcoco', 'refs_unc.json'), ('refcoco+', 'refs_unc.json'), ('refcocog', 'refs_umd.json')):
        folder = osp.join(data, 'ref_seg', name)
        fakes.make_refcoco(folder, coco)
        with open(osp.join(folder, 'refs_unc.json'), encoding='utf-8') as f:
            items = json.load(f)
        # The fake has one 'val' ref (two sentences); copy it into the other evaluation splits.
        val = next(r for r in items if r['split'] == 'val')
        items += [dict(val, ref_id=100 + i, split=split) for i, split in enumerate(('testA', 'testB', 'test'))]
        fakes.write_json(osp.join(folder, refs), items)
    fakes.make_gcg_eval(osp.join(data, 'glamm_data', 'annotations', 'val_test'),
                        osp.join(data, 'glamm_data', 'images', 'grandf', 'val_test'))
    fakes.make_sama_bench(osp.join(data, 'sama_bench'))
    return data


def save_random_checkpoint(config, path, seed=0):
    """A checkpoint of the config's model with seeded random weights (what tools/test.py loads)."""
    from mmengine.config import Config

    from sama_mm.registry import MODELS
    from sama_mm.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    torch.manual_seed(seed)
    model = MODELS.build(Config.fromfile(config).model)
    torch.save(dict(meta=dict(seed=seed), state_dict=model.state_dict()), path)
    return path

