"""tools/browse_dataset.py, tools/check_dataset.py on the new datasets, and the mixture config."""
import json
import os
import os.path as osp

from mmengine.config import Config

from tests.conftest import REPO_ROOT, run_tool
from tests.datasets import fakes

CONFIG = '''
from sama_mm.datasets import (GCGDataset, LLaVADataset, MultitaskMixture, OspreyDataset, RefCOCODataset,
                              RefDAVIS17Dataset, ReVOSDataset, SAMA239KIndexedDataset)
from sama_mm.datasets.transforms import (ChatTokenize, ImageInit, InternVLImageTransform, LoadImageMasks,
                                         LoadIndexedRegionMasks, LoadIndexedSegMasks, PackSAMAInputs,
                                         SAMA239KToRounds, SampleFrames, VideoDecode, VideoInit)
from tests.datasets.tiny_tokenizer import make_tiny_tokenizer

tok = dict(type=make_tiny_tokenizer)
root = {root!r}
demo = {demo!r}
video = [dict(type=VideoInit), dict(type=SampleFrames), dict(type=VideoDecode),
         dict(type=SAMA239KToRounds, max_rounds=4), dict(type=LoadIndexedSegMasks),
         dict(type=InternVLImageTransform, image_size=448),
         dict(type=ChatTokenize, tokenizer=tok, num_image_tokens=256, context_tokens=True),
         dict(type=LoadIndexedRegionMasks), dict(type=PackSAMAInputs)]
image = [dict(type=ImageInit), dict(type=SampleFrames), dict(type=VideoDecode), dict(type=LoadImageMasks),
         dict(type=InternVLImageTransform, image_size=448),
         dict(type=ChatTokenize, tokenizer=tok, num_image_tokens=256, context_tokens=True, context_sep='\\n'),
         dict(type=LoadImageMasks, targets=('region', )), dict(type=PackSAMAInputs)]
sources = [
    dict(type=SAMA239KIndexedDataset, data_root=demo, index_file='sama239k_train_final.index',
         mask_dicts=dict(mevis='mevis_train_mask_dict.index'), pipeline=video),
    dict(type=RefCOCODataset, data_root=root + '/refcoco', ann_file='refs_unc.json',
         data_prefix=dict(img=root + '/coco'), pipeline=image),
    dict(type=GCGDataset, data_root=root + '/gcg', ann_file='GranDf_HA_GCG_train.json',
         data_prefix=dict(img=root + '/images'), pipeline=image),
    dict(type=OspreyDataset, data_root=root + '/osprey', ann_file='osprey_conversation.json',
         data_prefix=dict(img=root + '/images'), pipeline=image),
    dict(type=LLaVADataset, data_root=root + '/llava', ann_file='llava_v1_5_mix665k.json',
         data_prefix=dict(img='llava_images'), pipeline=image),
    dict(type=ReVOSDataset, data_root=root + '/revos', ann_file='meta_expressions_train_.json',
         foreground_file='mask_dict_foreground.json', pipeline=[]),
    dict(type=RefDAVIS17Dataset, data_root=root + '/davis17', ann_file='meta_expressions/valid/meta_expressions.json',
         data_prefix=dict(video='valid/JPEGImages'), mask_file='valid/mask_dict.json', pipeline=[]),
]
train_dataloader = dict(batch_size=1, dataset=dict(type=MultitaskMixture, datasets=sources[:5],
                                                   repeats=[1, 2, 1, 1, 1]))
val_dataloader = dict(batch_size=1, dataset=dict(type=MultitaskMixture, datasets=sources[5:]))
'''


def write_fakes(tmp_path, demo_root):
    from data_converters.build_annotation_index import build
    root = tmp_path / 'fakes'
    fakes.make_refcoco(str(root / 'refcoco'), str(root / 'coco'))
    fakes.make_gcg(str(root / 'gcg'), str(root / 'images'))
    fakes.make_osprey(str(root / 'osprey'), str(root / 'images'))
    fakes.make_llava(str(root / 'llava'), str(root / 'llava' / 'llava_images'))
    fakes.make_revos(str(root / 'revos'))
    fakes.make_davis(str(root / 'davis17'))
    demo = tmp_path / 'demo'
    os.makedirs(demo)
    for name in ('mevis', 'sama239k_train_final.json', 'mevis_train_mask_dict.json'):
        os.symlink(demo_root / name, demo / name)
    build(str(demo / 'sama239k_train_final.json'))
    build(str(demo / 'mevis_train_mask_dict.json'))
    config = tmp_path / 'browse_cfg.py'
    config.write_text(CONFIG.format(root=str(root), demo=str(demo) + '/'))
    return config


def test_browse_and_check_dataset(tmp_path, demo_root):
    config = write_fakes(tmp_path, demo_root)
    out = tmp_path / 'browse'
    proc = run_tool('tools/browse_dataset.py', config, '--num', '6', '--out', out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    pngs = sorted(p for p in os.listdir(out) if p.endswith('.png'))
    gifs = [p for p in os.listdir(out) if p.endswith('.gif')]
    assert len(pngs) == 6 and len(gifs) == 6
    from PIL import Image
    with Image.open(out / pngs[0]) as img:
        assert img.size[0] > 224 * 5 and img.size[1] >= 224
    again = run_tool('tools/browse_dataset.py', config, '--num', '1', '--out', out)
    assert again.returncode == 1 and '--force' in again.stderr
    assert run_tool('tools/browse_dataset.py', config, '--num', '1', '--out', out, '--force').returncode == 0
    check = run_tool('tools/check_dataset.py', config)
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-3000:]
    summary = json.loads(check.stdout.strip().splitlines()[-1])
    assert summary == dict(datasets=7, problems=0)
    for name in ('SAMA239KIndexedDataset', 'RefCOCODataset', 'GCGDataset', 'OspreyDataset', 'LLaVADataset',
                 'ReVOSDataset', 'RefDAVIS17Dataset'):
        assert name in check.stdout


def test_mixture_config_has_reference_repeats():
    cfg = Config.fromfile(os.path.join(REPO_ROOT, 'configs', '_base_', 'datasets', 'sama_mixture.py'))
    mix = cfg.train_dataloader.dataset
    repeats = dict(zip(mix.names, mix.repeats))
    assert repeats == {'refcoco': 4, 'refcoco+': 4, 'refcocog': 4, 'llava665k': 1, 'mevis': 4, 'revos': 10,
                       'ref_ytvos': 4, 'chatunivi': 1, 'ref_sav': 4, 'gcg_openpsg': 1, 'gcg_grandf': 10, 'gcg_flickr': 1, 'gcg_refcocog': 1,
                       'osprey_conversation': 1, 'osprey_detail_description': 1, 'osprey_part_level': 1,
                       'osprey_short_form': 1, 'osprey_lvis_positive_negative': 1, 'sama239k_conversation': 5,
                       'sama239k_description': 5}
    for ds in mix.datasets:
        assert ds['data_root'].startswith('data/') and ds['pipeline']
    refcoco_tok = [s for s in mix.datasets[0]['pipeline'] if 'context_sep' in s]
    assert refcoco_tok and refcoco_tok[0]['context_sep'] == ''
    desc = [s for s in mix.datasets[-1]['pipeline'] if s.get('task')]
    # The dataset cuts descriptions into samples of 3 (sample_mode='description'); the official question pool.
    assert desc[0]['task'] == 'description' and desc[0]['description_questions'] == 'detailed'
    assert mix.datasets[-1]['sample_mode'] == 'description'


def test_mixture_image_sources_resolve_to_the_data_layout():
    """MMEngine joins a relative ``data_prefix`` to the dataset's ``data_root``: the image folders and annotation
    files of the image sources must come out at their places below ``data/``, not inside an annotation folder."""
    from sama_mm.registry import DATASETS
    from sama_mm.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(os.path.join(REPO_ROOT, 'configs', '_base_', 'datasets', 'sama_mixture.py'))
    mix = cfg.train_dataloader.dataset
    resolved = {}
    for name, source in zip(mix.names, mix.datasets):
        if 'img' in source.get('data_prefix', {}):
            dataset = DATASETS.build(dict(source, lazy_init=True, pipeline=[]))
            resolved[name] = (dataset.data_prefix['img'], dataset.ann_file)
        elif source.get('img_dirs'):  # Osprey: COCO 2014/2017 folders searched in order
            dataset = DATASETS.build(dict(source, lazy_init=True, pipeline=[]))
            resolved[name] = (tuple(osp.join(dataset.data_root, d) for d in dataset.img_dirs), dataset.ann_file)
    assert resolved['refcoco'] == ('data/coco2014/train2014', 'data/ref_seg/refcoco/refs_unc.json')
    assert resolved['refcocog'] == ('data/coco2014/train2014', 'data/ref_seg/refcocog/refs_umd.json')
    assert resolved['gcg_grandf'] == ('data/grandf/train', 'data/glamm_data/annotations/GranDf_HA_GCG_train.json')
    assert resolved['gcg_flickr'][0] == 'data/flickr30k/Flickr30K'
    assert resolved['osprey_conversation'] == (
        ('data/coco2014/train2014', 'data/coco2014/val2014', 'data/coco2017/train2017', 'data/coco2017/val2017'),
        'data/Osprey-724K/osprey_conversation.json')
    assert resolved['llava665k'] == ('data/llava_data/llava_images', 'data/llava_data/llava_v1_5_mix665k.json')
