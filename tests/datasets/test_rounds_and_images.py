"""SAMA239KToRounds, RefVOSToRounds and the two image transforms."""
import numpy as np
import pytest
import torch
from PIL import Image

from sama_mm.datasets import DataError
from sama_mm.datasets.transforms import (InternVLImageTransform, RefVOSToRounds, SAM2ImageTransform,
                                         SAMA239KToRounds)
from sama_mm.datasets.transforms.image import IMAGENET_MEAN, IMAGENET_STD


def sama_info():
    return dict(video_id='v', record_index=2, video_path='mevis/train/JPEGImages/v', rounds=[
        dict(question='What is <mask> doing?', answer='<g_s> The cat <g_e> <seg> sleeps.', gt_keys=[[3]],
             region_keys=[3]),
        dict(question='What colour is <mask>?', answer='It is red.', gt_keys=[], region_keys=[4]),
        dict(question='Where are the cats?', answer='<p> A </p> [SEG] and <p> B </p> [SEG].', gt_keys=[[3], [4, 5]],
             region_keys=[]),
    ], descriptions={'3': 'A cat.', '4': 'A dog.'})


def test_conversation_rounds():
    info = sama_info()
    out = SAMA239KToRounds()(dict(info))
    assert out['rounds'] == [
        dict(question='What is <mask> doing? Response with interleaved segmentation masks.',
             answer='<p> The cat </p> [SEG] sleeps.', gt_keys=[[3]], region_keys=[3]),
        dict(question='What colour is <mask>?', answer='It is red.', gt_keys=[], region_keys=[4]),
        dict(question='Where are the cats? Response with interleaved segmentation masks.',
             answer='<p> A </p> [SEG] and <p> B </p> [SEG].', gt_keys=[[3], [4, 5]], region_keys=[]),
    ]
    assert info['rounds'][0]['answer'].startswith('<g_s>')  # the data info is not changed in place
    assert len(SAMA239KToRounds(max_rounds=2)(sama_info())['rounds']) == 2


def test_description_rounds():
    out = SAMA239KToRounds(task='description')(sama_info())
    q = 'Please describe the region <mask> in the video in detail.'
    assert out['rounds'] == [dict(question=q, answer='A cat.', gt_keys=[], region_keys=['3']),
                             dict(question=q, answer='A dog.', gt_keys=[], region_keys=['4'])]


def test_conversation_errors_name_record():
    info = sama_info()
    info['rounds'][0]['gt_keys'] = []
    with pytest.raises(DataError, match=r'record 2 \(v\): round 0: answer has 1 \[SEG\] but 0'):
        SAMA239KToRounds()(info)
    with pytest.raises(DataError, match=r'record 2 \(v\): the record has no description'):
        SAMA239KToRounds(task='description')(dict(sama_info(), descriptions={}))


def test_refvos_rounds():
    # A fixed question/answer (the evaluation prompt); the training default draws official templates
    # (tests/datasets/test_official_recipe_video.py).
    fixed = RefVOSToRounds(question='Please segment {exp}.', answer='It is [SEG].')
    out = fixed(dict(expression='the red car ', anno_ids=['4', '7'], obj_ids=[0, 1], mask_file='m.json'))
    assert out['rounds'] == [dict(question='Please segment the red car.', answer='It is [SEG].',
                                  gt_keys=[['4', '7']], region_keys=[])]
    out = fixed(dict(expression='which car is fastest?', obj_ids=['2'], anno_ids=[], mask_dir='a'))
    assert out['rounds'][0]['question'] == 'which car is fastest?' and out['rounds'][0]['gt_keys'] == [['2']]
    with pytest.raises(ValueError, match='exactly one'):
        RefVOSToRounds(answer='[SEG] [SEG]')


def pil_reference(img, size):
    resized = np.asarray(Image.fromarray(img).resize((size, size), Image.BICUBIC)).astype(np.float32) / 255
    return (resized - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)


def test_image_transforms_shapes_and_pil_agreement():
    import cv2
    rng = np.random.default_rng(0)
    imgs = np.stack([cv2.GaussianBlur((rng.random((90, 160, 3)) * 255).astype(np.uint8), (0, 0), 2)
                     for _ in range(4)])
    out = InternVLImageTransform(image_size=112)(dict(imgs=imgs))
    pv = out['pixel_values']
    assert pv.dtype == torch.float32 and pv.shape == (4, 3, 112, 112)
    for t in range(4):
        diff = (pv[t].permute(1, 2, 0).numpy() - pil_reference(imgs[t], 112)) * np.array(IMAGENET_STD) * 255
        assert np.abs(diff).max() <= 1.01 and np.abs(diff).mean() < 0.5  # at most one grey level
    out = SAM2ImageTransform(image_size=256)(dict(imgs=imgs, dense_positions=[1, 3]))
    sv = out['sam2_pixel_values']
    assert sv.dtype == torch.float32 and sv.shape == (2, 3, 256, 256)
    full = InternVLImageTransform(image_size=256)(dict(imgs=imgs))['pixel_values']
    torch.testing.assert_close(sv, full[[1, 3]])
