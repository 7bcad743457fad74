"""Golden samples of the official Ref-SAV and ChatUniVi training datasets, replayed by ours.

The fixtures (``tests/data/official_recipe_extra``) were written by ``tools/dev/record_official_extra_sources.py``
running the official ``VideoSAM2Dataset`` and ``VideoChatUniViDataset`` (sunye23/SAMA 7c75e44) on small fakes of the
real layouts with seeded randomness; ``records.json`` holds what they returned and the draws they made. Our
datasets replay those draws and must give the same token ids, labels, frames and masks.
"""
import hashlib
import json
import os.path as osp

import numpy as np
import pytest

from sama_mm.datasets import ChatUniViDataset, RefSAVDataset
from sama_mm.datasets.chatunivi import ChatUniViFrames
from sama_mm.datasets.errors import DataError, VideoReadError
from sama_mm.datasets.ref_sav import LoadRefSAVMasklet, RefSAVToRounds
from sama_mm.datasets.transforms.sampling import sparse_indices
from sama_mm.datasets.transforms import ChatTokenize, InternVLImageTransform, VideoDecode, VideoInit

FIXTURES = osp.join(osp.dirname(osp.dirname(__file__)), 'data', 'official_recipe_extra')


def digest(array: np.ndarray) -> str:
    array = np.ascontiguousarray(array)
    h = hashlib.sha256(f'{array.shape}|{array.dtype}'.encode())
    h.update(array.tobytes())
    return h.hexdigest()


@pytest.fixture(scope='module')
def records():
    with open(osp.join(FIXTURES, 'records.json')) as f:
        return json.load(f)['records']


@pytest.fixture(scope='module')
def tokenizer():
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(osp.join(FIXTURES, 'tokenizer'))


def tokenize_step(tokenizer):
    return dict(type=ChatTokenize, tokenizer=tokenizer, template='qwen_chat', num_image_tokens=256,
                context_tokens=True, context_sep='\n', max_length=8192)


def ref_sav(tokenizer, mode='long', **kwargs):
    pipeline = [dict(type=VideoInit), dict(type=RefSAVToRounds, mode=mode), dict(type=LoadRefSAVMasklet),
                dict(type=VideoDecode), dict(type=InternVLImageTransform, image_size=448), tokenize_step(tokenizer)]
    return RefSAVDataset(ann_file='Ref-SAV.json', data_root=osp.join(FIXTURES, 'ref_sav'), pipeline=pipeline,
                         **kwargs)


def chatunivi(tokenizer):
    pipeline = [dict(type=VideoInit), dict(type=ChatUniViFrames), dict(type=VideoDecode),
                dict(type=InternVLImageTransform, image_size=448), tokenize_step(tokenizer)]
    return ChatUniViDataset(ann_file='video_chat.json', data_root=osp.join(FIXTURES, 'chat_univi'),
                            pipeline=pipeline)


def check_text(ours, official):
    assert [r['question'].strip() for r in ours['rounds']] == official['prompts']
    # the official templated output ends with the template's SUFFIX
    assert [r['answer'] + '<|im_end|>' for r in ours['rounds']] == [c['output'] for c in official['conversation']]
    assert ours['input_ids'] == official['input_ids']
    assert ours['labels'] == official['labels']
    assert list(ours['dense_positions']) == official['dense_positions']


@pytest.mark.parametrize('mode', ['long', 'short'])
def test_ref_sav_replays_official_samples(records, tokenizer, mode):
    dataset = ref_sav(tokenizer, mode)
    cases = [r for r in records if r['source'] == 'ref_sav' and r['mode'] == mode]
    assert cases
    for rec in cases:
        replay = {k: v for k, v in rec['draws'].items() if v is not None}
        ours = dataset.prepare_data(rec['index'], draws=replay)
        assert ours['video_id'] == rec['video_id']
        check_text(ours, rec)
        assert ours['frame_indices'] == [4 * s for s in rec['sparse']]
        masks = ours['gt_masks']
        flat = masks.reshape(-1, *masks.shape[2:])  # official order: object-major, then dense frame
        assert list(flat.shape) == rec['masks_shape']
        assert flat.reshape(len(flat), -1).sum(1).tolist() == rec['mask_pixels']
        assert digest(flat) == rec['masks_digest']
        px = ours['pixel_values'].numpy()
        assert list(px.shape) == rec['pixel_shape']
        # decord (ours) and OpenCV (official) decode the same mp4; the frames agree to within codec rounding.
        np.testing.assert_allclose(px.reshape(len(px), -1).mean(1), rec['frame_means'], atol=0.02)


def test_chatunivi_replays_official_samples(records, tokenizer):
    dataset = chatunivi(tokenizer)
    cases = [r for r in records if r['source'] == 'chatunivi']
    assert len(cases) == 9
    for rec in cases:
        ours = dataset.prepare_data(rec['index'], draws=rec['draws'])
        check_text(ours, rec)
        assert ours['frame_indices'] == rec['frame_indices']
        assert 'gt_masks' not in ours
        px = ours['pixel_values'].numpy()
        assert list(px.shape) == rec['pixel_shape']
        np.testing.assert_allclose(px.reshape(len(px), -1).mean(1), rec['frame_means'], atol=1e-4)


def test_mkv_names_fall_back_to_mp4(tokenizer):
    dataset = chatunivi(tokenizer)
    assert dataset.get_data_info(2)['video_path'].endswith('v_gamma.mp4')


def test_seeded_draws_are_reproducible_and_differ_per_repeat(tokenizer):
    dataset = ref_sav(tokenizer, draw_seed=3)
    a, b = dataset.prepare_data(1), dataset.prepare_data(1)
    assert a['input_ids'] == b['input_ids'] and a['draws'].drawn == b['draws'].drawn
    rounds = {tuple(dataset.get_item_in_round(1, r)['draws'].drawn['objects']) for r in range(4)}
    assert len(rounds) > 1
    assert all(0 <= o < 7 for objs in rounds for o in objs)


def test_official_sparse_rule_on_annotated_frames():
    assert sparse_indices(40) == list(range(0, 40, 3))
    assert sparse_indices(6) == [0, 1, 2, 3, 4, 5]
    long = sparse_indices(101)
    assert len(long) == 32 and long[:3] == [0, 3, 6] and long[-1] == 96


def test_frame_past_the_video_names_the_record(tokenizer, tmp_path):
    import shutil
    root = tmp_path / 'ref_sav'
    shutil.copytree(osp.join(FIXTURES, 'ref_sav'), root)
    # video 3 has 24 frames for 6 annotated ones; a masklet of 40 frames runs past it (frame 4 * 39)
    anno = root / 'sam_v_full' / 'sav_000' / 'sav_000003_manual.json'
    data = json.loads(anno.read_text())
    data['masklet'] = data['masklet'] * 7
    anno.write_text(json.dumps(data))
    pipeline = [dict(type=VideoInit), dict(type=RefSAVToRounds), dict(type=LoadRefSAVMasklet)]
    dataset = RefSAVDataset(ann_file='Ref-SAV.json', data_root=str(root), pipeline=pipeline)
    with pytest.raises(VideoReadError, match='sav_000003') as err:
        dataset.prepare_data(2)
    assert err.value.kind == 'frame_index_out_of_range'


def test_bad_records_are_named(tmp_path):
    (tmp_path / 'Ref-SAV.json').write_text(json.dumps({'v1': {'video_path': 'a/b.mp4', 'anno_path': 'a/b.json',
                                                              'objects': {'x': {'formated': 'a'}}}}))
    with pytest.raises(DataError, match='v1'):
        RefSAVDataset(ann_file='Ref-SAV.json', data_root=str(tmp_path))
    (tmp_path / 'Ref-SAV.json').write_text(json.dumps({'v2': {'video_path': 'a/b.mp4', 'anno_path': 'a/b.json',
                                                              'objects': {'0': 'not an object'}}}))
    with pytest.raises(DataError, match='v2'):
        RefSAVDataset(ann_file='Ref-SAV.json', data_root=str(tmp_path))
    (tmp_path / 'video_chat.json').write_text(json.dumps([{'id': 'q', 'video': 'q.mp4', 'conversations': [
        {'from': 'human', 'value': 'hi'}]}]))
    with pytest.raises(DataError, match=r'0 \(q\)'):
        ChatUniViDataset(ann_file='video_chat.json', data_root=str(tmp_path))


@pytest.mark.slow
def test_tiny_model_trains_on_ref_sav_and_chatunivi_samples():
    """The tiny demo model takes a batch of each source: mask losses from Ref-SAV, language loss from both."""
    import torch
    from mmengine.config import Config

    from sama_mm.datasets import sama_collate
    from sama_mm.datasets.transforms import PackSAMAInputs, SAM2ImageTransform
    from sama_mm.registry import MODELS
    from sama_mm.utils import register_all_modules
    from tests.conftest import REPO_ROOT
    register_all_modules()
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'demo', 'sama_tiny_demo.py'))
    chat = dict(cfg.chat, context_sep='\n')
    vit = dict(type=InternVLImageTransform, image_size=cfg.tiny_image_size)
    ref = RefSAVDataset(ann_file='Ref-SAV.json', data_root=osp.join(FIXTURES, 'ref_sav'), pipeline=[
        dict(type=VideoInit), dict(type=RefSAVToRounds),
        dict(type=LoadRefSAVMasklet, max_frames=8, min_frames=4, num_dense=2), dict(type=VideoDecode), vit,
        dict(type=SAM2ImageTransform, image_size=256), chat, cfg.qformer, dict(type=PackSAMAInputs)])
    chats = ChatUniViDataset(ann_file='video_chat.json', data_root=osp.join(FIXTURES, 'chat_univi'), pipeline=[
        dict(type=VideoInit), dict(type=ChatUniViFrames, num_sparse=8, num_dense=2), dict(type=VideoDecode), vit,
        chat, cfg.qformer, dict(type=PackSAMAInputs)])
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.train()
    for items, with_masks in (([ref[0], ref[1]], True), ([chats[0], chats[2]], False)):
        data = model.data_preprocessor(sama_collate(items), True)
        losses = model(**data, mode='loss')
        assert all(torch.isfinite(v) for v in losses.values())
        assert (float(losses['loss_mask']) > 0) == with_masks
        sum(losses.values()).backward()


def test_check_reports_missing_files(tmp_path):
    import shutil
    root = tmp_path / 'chat_univi'
    shutil.copytree(osp.join(FIXTURES, 'chat_univi'), root)
    (root / 'Activity_Videos' / 'v_beta.mp4').unlink()
    report = ChatUniViDataset(ann_file='video_chat.json', data_root=str(root), lazy_init=True).check()
    assert report.counts == dict(records=3, rounds=5)
    assert [(p.kind, p.record) for p in report.problems] == [('missing_video', 1)]
    report = RefSAVDataset(ann_file='Ref-SAV.json', data_root=osp.join(FIXTURES, 'ref_sav'), lazy_init=True).check()
    assert report.counts == dict(videos=3, objects=12) and not report.problems
