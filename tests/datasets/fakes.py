"""Small fake data sets written in the real file layouts and key names (a few records each)."""
import json
import os
import os.path as osp

import numpy as np
from PIL import Image

from sama_mm.structures import encode_mask

H, W = 24, 32


def box(y0, y1, x0, x1, h=H, w=W):
    m = np.zeros((h, w), np.uint8)
    m[y0:y1, x0:x1] = 1
    return m


def rle(mask):
    return encode_mask(mask)


def polygon(y0, y1, x0, x1):
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


def write_json(path, data):
    os.makedirs(osp.dirname(str(path)), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(data, f)


def write_image(path, h=H, w=W, value=90):
    os.makedirs(osp.dirname(str(path)), exist_ok=True)
    Image.fromarray(np.full((h, w, 3), value, np.uint8)).save(path)


def write_frames(folder, n, h=H, w=W):
    names = [f'{i:05d}' for i in range(n)]
    for i, name in enumerate(names):
        write_image(osp.join(folder, name + '.jpg'), h, w, value=20 * i % 255)
    return names


def make_revos(root):
    """``revos/``: ``<vid with '/'>/<frame>.jpg``, ``meta_expressions_{train,valid}_.json``, mask dicts."""
    videos, masks, fg = {}, {}, {}
    anno = 0
    for v, vid in enumerate(['LVOS/train/v0', 'MOSE/v1']):
        frames = write_frames(osp.join(root, vid), 6)
        exps = {}
        for e, type_id in enumerate([0, 1, 2]):
            masks[str(anno)] = [rle(box(2, 10, 3 + e, 12 + e)) if t % 2 == 0 else None for t in range(6)]
            exps[str(e)] = dict(exp=f'object {e} of video {v}' + ('?' if type_id == 1 else ''), obj_id=[e],
                                anno_id=[anno], type_id=type_id)
            anno += 1
        videos[vid] = dict(frames=frames, expressions=exps)
        fg[vid] = dict(masks_rle=[rle(box(1, 20, 1, 30)) for _ in range(6)])
    for split in ('train', 'valid'):
        write_json(osp.join(root, f'meta_expressions_{split}_.json'), dict(videos=videos))
    write_json(osp.join(root, 'mask_dict.json'), masks)
    write_json(osp.join(root, 'mask_dict_foreground.json'), fg)


def make_davis(root):
    """``davis17/``: ``valid/JPEGImages``, ``meta_expressions/valid/meta_expressions.json``, converted mask dict."""
    videos = {}
    for vid, n_exp in (('dogs', 2), ('bike', 3)):
        frames = write_frames(osp.join(root, 'valid', 'JPEGImages', vid), 5)
        videos[vid] = dict(frames=frames, expressions={str(e): dict(exp=f'{vid} thing {e}') for e in range(n_exp)})
    write_json(osp.join(root, 'meta_expressions', 'valid', 'meta_expressions.json'), dict(videos=videos))
    # Counter over sorted videos ('bike' 0-2, 'dogs' 3-4), sorted expression ids; a distinct box per key.
    masks = {str(k): [rle(box(k, k + 4, 2, 8)) for _ in range(5)] for k in range(5)}
    write_json(osp.join(root, 'valid', 'mask_dict.json'), masks)


def make_refcoco(root, coco_images):
    """``ref_seg/refcoco/``: ``instances.json`` (COCO) + ``refs_unc.json`` (converted ``refs(unc).p``)."""
    images = [dict(id=i, file_name=f'COCO_train2014_{i:012d}.jpg', height=H, width=W) for i in (1, 2)]
    for img in images:
        write_image(osp.join(coco_images, img['file_name']))
    anns = [dict(id=10, image_id=1, category_id=1, segmentation=polygon(2, 10, 2, 10), bbox=[2, 2, 8, 8]),
            dict(id=11, image_id=1, category_id=1, segmentation=rle(box(12, 20, 12, 30)), bbox=[12, 12, 18, 8]),
            dict(id=12, image_id=2, category_id=2, segmentation=polygon(5, 15, 5, 25), bbox=[5, 5, 20, 10])]
    write_json(osp.join(root, 'instances.json'), dict(images=images, annotations=anns, categories=[]))
    refs = [dict(ref_id=0, ann_id=10, image_id=1, split='train', category_id=1, file_name='x.jpg',
                 sentences=[dict(sent='left square', sent_id=0), dict(sent='the small one', sent_id=1)]),
            dict(ref_id=1, ann_id=11, image_id=1, split='train', category_id=1, file_name='x.jpg',
                 sentences=[dict(sent='right bar', sent_id=2)]),
            dict(ref_id=2, ann_id=12, image_id=2, split='val', category_id=2, file_name='y.jpg',
                 sentences=[dict(sent='middle box', sent_id=3), dict(sent='the box', sent_id=4)])]
    write_json(osp.join(root, 'refs_unc.json'), refs)


def make_gcg(root, images):
    """GLaMM GCG annotation files (GranD-f, RefCOCOg-GCG, Flickr) and their images."""
    for name in ('g1.jpg', 'r1.jpg', 'f1.jpg'):
        write_image(osp.join(images, name))
    cap = 'A man rides a red bike near a tree.'
    grandf = [dict(file_name='g1.jpg', caption=cap, groundings={
        'A man': dict(token_positives=[0, 5], rle_masks=[rle(box(0, 10, 0, 10))]),
        'a red bike': dict(token_positives=[12, 22], rle_masks=[rle(box(10, 20, 0, 10)), rle(box(10, 20, 20, 30))])})]
    refcocog = [dict(img_file_name='r1.jpg', caption='The Dog sits on a mat.', refs=[
        dict(sentence='the dog', bbox=[0, 0, 5, 5], segmentation=polygon(0, 5, 0, 5)),
        dict(sentence='a mat', bbox=[0, 0, 5, 5], segmentation=polygon(10, 20, 0, 30)),
        dict(sentence='a cat', bbox=[0, 0, 5, 5], segmentation=polygon(0, 5, 0, 5))])]
    flickr = dict(images=[dict(id=7, file_name='f1.jpg', height=H, width=W, caption='Two kids play with a ball.')],
                  annotations=[dict(id=1, image_id=7, bbox=[0, 0, 4, 4], area=16, tokens_positive=[[0, 8]],
                                    sam_mask=rle(box(0, 8, 0, 8))),
                               dict(id=2, image_id=7, bbox=[0, 0, 4, 4], area=16, tokens_positive=[[20, 26]],
                                    sam_mask=rle(box(8, 16, 8, 16)))])
    write_json(osp.join(root, 'GranDf_HA_GCG_train.json'), grandf)
    write_json(osp.join(root, 'RefCOCOg_GCG_train.json'), refcocog)
    write_json(osp.join(root, 'flickr_mergedGT_GCG_train.json'), flickr)


def make_osprey(root, images):
    write_image(osp.join(images, 'o1.jpg'))
    recs = [dict(id=1, file_name='o1.jpg', height=H, width=W,
                 annotations=[dict(segmentation=polygon(0, 10, 0, 10), bbox=[0, 0, 10, 10], category_id=1),
                              dict(segmentation=rle(box(10, 20, 10, 20)), bbox=[10, 10, 10, 10], category_id=2)],
                 conversations=[dict(value='<image>\nWhat is <region1>?', **{'from': 'human'}),
                                dict(value='A square.', **{'from': 'gpt'}),
                                dict(value='And <region2> next to <region1>?', **{'from': 'human'}),
                                dict(value='Another square.', **{'from': 'gpt'})])]
    write_json(osp.join(root, 'osprey_conversation.json'), recs)


def make_llava(root, images):
    write_image(osp.join(images, 'coco', 'l1.jpg'))
    recs = [dict(id='000001', image='coco/l1.jpg', conversations=[
                dict(value='<image>\nWhat colour is it?', **{'from': 'human'}), dict(value='Grey.', **{'from': 'gpt'})]),
            dict(id='text1', conversations=[dict(value='Hi?', **{'from': 'human'}), dict(value='Hello.', **{'from': 'gpt'})])]
    write_json(osp.join(root, 'llava_v1_5_mix665k.json'), recs)


def sama239k_record(i, video='mevis/train/JPEGImages/v0'):
    """A SAMA-239K-schema record (for the lazy index; frame folder ``video``)."""
    return dict(video=video, video_id=f'v{i}', height=None, width=None, frames=[f'{t:05d}' for t in range(8)],
                anno_map=['0', '1'],
                conversation=[dict(value=f'What is <mask> doing in clip {i}?', **{'from': 'human'}),
                              dict(value='<p> The object </p> [SEG] moves right.', **{'from': 'gpt'})],
                obj_masks=[['0']], groundtruth=[[['1']]],
                description=dict(obj0=f'A square number {i}.', obj1='A bar.'))


SAMA_BENCH_FILES = (['mevis.json', 'lvvis_0.json', 'lvvis_1.json', 'ref_youtube_vos_0.json', 'ref_youtube_vos_1.json']
                    + [f'VidSTG_{i}.json' for i in range(8)])


def make_sama_bench(root):
    """``sama_bench/``: the 13 split files (two with records), frame folders and two validation mask dicts.

    ``mevis.json``: one video (6 frames) with two questions (``q0``: one ``[SEG]``, ``q1``: none) and two
    described objects (``d0``, ``d1``); ``lvvis_0.json``: LV-VIS video ``7`` (on disk ``00007``, as released) with
    one question (``q2``, two ``[SEG]``) and one described object (``d2``). LV-VIS mask entries use the
    ``{"segmentations": [...]}`` wrapper; tracks are shorter than the video (missing frames are empty).
    """
    mevis_frames = write_frames(osp.join(root, 'mevis', 'val_u', 'JPEGImages', 'm0'), 6)
    lvvis_frames = write_frames(osp.join(root, 'lvvis', 'val', 'JPEGImages', '00007'), 5)
    write_json(osp.join(root, 'Mevis_mask_dict_val.json'), {
        '100': [rle(box(2, 10, 2, 10))] * 6, '101': [rle(box(12, 20, 14, 28))] * 4})
    write_json(osp.join(root, 'LVVIS_mask_dict_val.json'), {
        '7': dict(segmentations=[rle(box(0, 8, 0, 8))] * 5), '8': dict(segmentations=[rle(box(10, 20, 10, 30)), None])})

    def turn(who, text, **extra):
        return dict(value=text, **{'from': who}, **extra)

    mevis = [dict(video='mevis/val_u/JPEGImages/m0', video_id='m0', height=H, width=W, frames=mevis_frames,
                  anno_map=['100', '101'],
                  conversation=[turn('human', 'What is <mask> next to?', question_id='q0'),
                                turn('gpt', 'It is next to <p> the bar </p> [SEG].'),
                                turn('human', 'Does <mask> move?', question_id='q1'),
                                turn('gpt', 'No, it stays still.')],
                  obj_masks=[['100'], ['101']], groundtruth=[[['101']], []],
                  description=dict(obj0='A grey square at the top left.', obj1='A bar at the bottom right.'),
                  description_id=dict(obj0='d0', obj1='d1'))]
    lvvis = [dict(video='lvvis/val/JPEGImages/7', video_id='7', height=H, width=W, frames=lvvis_frames,
                  anno_map=['7', '8'],
                  conversation=[turn('human', 'Which objects are near <mask>?', question_id='q2'),
                                turn('gpt', '<p> The square </p> [SEG] and <p> the block </p> [SEG].')],
                  obj_masks=[['8']], groundtruth=[[['7'], ['7', '8']]],
                  description=dict(obj1='A large block.'), description_id=dict(obj1='d2'))]
    for name in SAMA_BENCH_FILES:
        write_json(osp.join(root, name), mevis if name == 'mevis.json' else lvvis if name == 'lvvis_0.json' else [])


def make_gcg_eval(ann_root, images):
    """GLaMM GCG evaluation files ``{val,test}_gcg_coco_{mask,caption}_gt.json`` and their images."""
    for split, names in (('val', ['v1', 'v2']), ('test', ['t1'])):
        imgs = [dict(id=n, file_name=f'{n}.jpg', height=H, width=W) for n in names]
        for img in imgs:
            write_image(osp.join(images, img['file_name']))
        anns = [dict(id=10 * i + k, image_id=n, category_id=1, segmentation=rle(box(4 * k, 4 * k + 6, 2, 20)))
                for i, n in enumerate(names) for k in range(2)]
        caps = [dict(id=i, image_id=n, caption=f'A cat sits next to a dog in picture {n}.', labels=['a cat', 'a dog'])
                for i, n in enumerate(names)]
        write_json(osp.join(ann_root, f'{split}_gcg_coco_mask_gt.json'), dict(images=imgs, annotations=anns))
        write_json(osp.join(ann_root, f'{split}_gcg_coco_caption_gt.json'), dict(images=imgs, annotations=caps))
