# The SAMA training mixture (sama-reference section 2.5) with the reference repeat factors of the 1B/8B configs
# (SAMA-239K x5; the 4B config uses x3: set sama239k_repeat = 3). Every source names its data_root here; change
# data_root (or one source's *_root) to point at your copy. The sources, their order and repeat factors are the
# official 1B config's (ChatUniVi video QA x1 and Ref-SAV x4 included); docs/training.md compares every source with
# the official recipe. The sampler draws every index once per epoch; emulate_official=True reproduces the official
# sampler's index list instead (it never draws the mixture's tail, see LengthGroupedSampler).
#
# Large annotation files: build their indexes once and switch the SAMA-239K sources to them, e.g.
#   python data_converters/build_annotation_index.py data/sama239k_data/sama239k_train_final.json
#   python data_converters/build_annotation_index.py data/sama239k_data/mevis_train_mask_dict.json
# then index_file='sama239k_train_final.index' instead of ann_file, mask dicts '*.index', and the
# LoadIndexedSegMasks/LoadIndexedRegionMasks steps. Pickles (refs(unc).p, ref_youtube_train_mask_dict.pkl)
# must be converted once with data_converters/pickle_to_json.py --trust-pickle-code-execution.
from mmengine.config import read_base

from sama_mm.datasets import (GCGDataset, LengthGroupedSampler, LLaVADataset, MeViSDataset, MultitaskMixture,
                              OspreyDataset, RefCOCODataset, RefYouTubeVOSDataset, ReVOSDataset,
                              SAMA239KIndexedDataset, sama_collate)
from sama_mm.engine.hooks import DataSkipSummaryHook
from sama_mm.datasets import ChatUniViDataset, RefSAVDataset
from sama_mm.datasets.chatunivi import ChatUniViFrames
from sama_mm.datasets.ref_sav import LoadRefSAVMasklet, RefSAVToRounds
from sama_mm.datasets.transforms import (InternVLImageTransform, PackSAMAInputs, SAM2ImageTransform, VideoDecode,
                                         VideoInit)
from sama_mm.utils.pipeline import build_pipeline

with read_base():
    from .sama_pipelines import qformer, tokenize, with_neck
    from .sama_pipelines import sama239k_description_train_pipeline
    from .image_pipelines import (image_chat_train_pipeline, image_region_train_pipeline, image_seg_train_pipeline,
                                  refcoco_train_pipeline)
    from .sama_pipelines import rvos_train_pipeline, sama239k_train_pipeline

data_root = 'data/'
video_root = data_root + 'video_datas/'
sama239k_root = data_root + 'sama239k_data/'
# The image sources keep data_root = data_root and name their files below it: MMEngine joins a relative
# data_prefix to the dataset's data_root, and their images live outside their annotation folders.
refseg_dir = 'ref_seg/'  # below data_root
coco2014_train = 'coco2014/train2014'  # below data_root
glamm_annotations = 'glamm_data/annotations/'  # below data_root
osprey_dir = 'Osprey-724K/'  # below data_root
llava_root = data_root + 'llava_data/'
sama239k_repeat = 5
skip_bad = True  # bad samples are skipped (deterministically replaced) and summarised each epoch

sama239k_mask_dicts = dict(mevis='mevis_train_mask_dict.json', lvvis='lvvis_train_mask_dict.json',
                           ref_youtube_vos='ref_youtube_train_mask_dict.json',  # converted from the released .pkl
                           VidSTG='VidSTG_mask_dict_train_updated.json', sav='SAV_mask_dict_train.json')

refcoco_sources = [
    dict(type=RefCOCODataset, data_root=data_root, ann_file=f'{refseg_dir}{name}/{refs}',
         instances_file=f'{refseg_dir}{name}/instances.json', data_prefix=dict(img=coco2014_train), split='train', num_rounds=5, skip_bad=skip_bad,
         pipeline=refcoco_train_pipeline)
    for name, refs in (('refcoco', 'refs_unc.json'), ('refcoco+', 'refs_unc.json'), ('refcocog', 'refs_umd.json'))]
llava_source = dict(type=LLaVADataset, data_root=llava_root, ann_file='llava_v1_5_mix665k.json',
                    data_prefix=dict(img='llava_images'), skip_bad=skip_bad, pipeline=image_chat_train_pipeline)
# Referring VOS as the official training: one sample per video (5 expressions drawn by the pipeline).
mevis_source = dict(type=MeViSDataset, data_root=video_root + 'mevis/train/', ann_file='meta_expressions.json',
                    mask_file='mask_dict.json', samples_per='video', skip_bad=skip_bad, pipeline=rvos_train_pipeline)
revos_source = dict(type=ReVOSDataset, data_root=video_root + 'revos/', ann_file='meta_expressions_train_.json',
                    mask_file='mask_dict.json', foreground_file='mask_dict_foreground.json', samples_per='video',
                    skip_bad=skip_bad, pipeline=rvos_train_pipeline)
# Ref-YouTube-VOS train from its PNG annotations (the reference reads a counter-keyed pickle instead; with that
# converted, use CounterKeyedRefVOSDataset(video_order='file', mask_file=...)).
rvos_source = dict(type=RefYouTubeVOSDataset, data_root=video_root + 'rvos/',
                   ann_file='meta_expressions/train/meta_expressions.json',
                   data_prefix=dict(video='train/JPEGImages'), mask_dir='train/Annotations', samples_per='video',
                   skip_bad=skip_bad, pipeline=rvos_train_pipeline)
# Ref-SAV (SA-V videos with referring captions): one sample per video, 5 objects drawn with replacement, the
# long caption in the official template, masks on the dense frames of the every-4th-frame masklet.
# Named steps as in sama_pipelines.py; the masklet step samples the frames and loads their masks.
ref_sav_train_steps = dict(
    init=dict(type=VideoInit),
    rounds=dict(type=RefSAVToRounds, num_objects=5, mode='long'),
    masklet=dict(type=LoadRefSAVMasklet, frame_stride=4, interval=3, max_frames=32, min_frames=8, num_dense=5),
    decode=dict(type=VideoDecode),
    vit_image=dict(type=InternVLImageTransform, image_size=448),
    sam2_image=dict(type=SAM2ImageTransform, image_size=1024),
    tokenize=tokenize,
    qformer=qformer if with_neck else None,
    pack=dict(type=PackSAMAInputs),
)
ref_sav_train_pipeline = build_pipeline.build()(ref_sav_train_steps)  # .build(): the function (lazy imports)
ref_sav_source = dict(type=RefSAVDataset, data_root=data_root + 'ref_sav/', ann_file='Ref-SAV.json',
                      data_prefix=dict(video='sam_v_full'), skip_bad=skip_bad, pipeline=ref_sav_train_pipeline)
# ChatUniVi video QA: every round of a record, 32 sparse frames drawn in 32 segments, 5 dense drawn among them.
chatunivi_train_steps = dict(
    init=dict(type=VideoInit),
    sample=dict(type=ChatUniViFrames, num_sparse=32, num_dense=5),
    decode=dict(type=VideoDecode),
    vit_image=dict(type=InternVLImageTransform, image_size=448),
    tokenize=tokenize,
    qformer=qformer if with_neck else None,
    pack=dict(type=PackSAMAInputs),
)
chatunivi_train_pipeline = build_pipeline.build()(chatunivi_train_steps)
chatunivi_source = dict(type=ChatUniViDataset, data_root=video_root + 'chat_univi/', ann_file='video_chat.json',
                        data_prefix=dict(video='Activity_Videos'), skip_bad=skip_bad,
                        pipeline=chatunivi_train_pipeline)
gcg_sources = [
    dict(type=GCGDataset, data_root=data_root, ann_file=glamm_annotations + ann, data_prefix=dict(img=img),
         skip_bad=skip_bad, pipeline=image_seg_train_pipeline)
    for ann, img in (('OpenPsgGCG_train.json', 'coco2017/train2017'), ('GranDf_HA_GCG_train.json', 'grandf/train'),
                     ('flickr_mergedGT_GCG_train.json', 'flickr30k/Flickr30K'),
                     ('RefCOCOg_GCG_train.json', 'coco2014/train2014'))]
osprey_parts = ('conversation', 'detail_description', 'part_level', 'short_form', 'lvis_positive_negative')
osprey_sources = [
    dict(type=OspreyDataset, data_root=data_root, ann_file=f'{osprey_dir}osprey_{part}.json',
         # The released Osprey-724K records name COCO images of 2014 and 2017: each is looked up in these
         # folders (below data_root) in order.
         img_dirs=('coco2014/train2014', 'coco2014/val2014', 'coco2017/train2017', 'coco2017/val2017'),
         skip_bad=skip_bad, pipeline=image_region_train_pipeline)
    for part in osprey_parts]
# SAMA-239K as the official training: every record cut into samples of <= 4 rounds (a malformed round dropped
# alone, a sample without [SEG] dropped) and of <= 3 descriptions; SA-V videos keep every 4th frame.
sama239k_conversation = dict(type=SAMA239KIndexedDataset, data_root=sama239k_root,
                             ann_file='sama239k_train_final.json', mask_dicts=sama239k_mask_dicts, skip_bad=skip_bad,
                             sample_mode='conversation', pipeline=sama239k_train_pipeline)
sama239k_description = dict(sama239k_conversation, sample_mode='description',
                            pipeline=sama239k_description_train_pipeline)

# (source, repeat factor, name) in the reference ConcatDataset order.
mixture_sources = (
    [(s, 4, n) for s, n in zip(refcoco_sources, ('refcoco', 'refcoco+', 'refcocog'))]
    + [(llava_source, 1, 'llava665k'), (mevis_source, 4, 'mevis'), (revos_source, 10, 'revos'),
       (rvos_source, 4, 'ref_ytvos'), (chatunivi_source, 1, 'chatunivi'), (ref_sav_source, 4, 'ref_sav')]
    + [(s, r, n) for s, r, n in zip(gcg_sources, (1, 10, 1, 1), ('gcg_openpsg', 'gcg_grandf', 'gcg_flickr',
                                                                   'gcg_refcocog'))]
    + [(s, 1, f'osprey_{part}') for s, part in zip(osprey_sources, osprey_parts)]
    + [(sama239k_conversation, sama239k_repeat, 'sama239k_conversation'),
       (sama239k_description, sama239k_repeat, 'sama239k_description')])
# What the official datasets report to the official sampler (MultitaskMixture official_lengths): a constant per
# family (100 for the rest), and for MeViS/ReVOS/Ref-YTVOS/Ref-SAV one entry per video without the repeats.
official_family_lengths = dict(mevis=(10000, False), revos=(10000, False), ref_ytvos=(10000, False),
                               chatunivi=(10000, True), ref_sav=(20000, False))

train_dataloader = dict(
    batch_size=2,  # per GPU, as the reference (x 4 accumulation steps x 8 GPUs = 64)
    num_workers=4,
    persistent_workers=True,
    collate_fn=dict(type=sama_collate),
    # Length-grouped as the reference (XTuner's grouping over the mixture's modality_length), grouping per
    # optimizer step: per_device_batch_size = batch_size x accumulative_counts (2 x 4). Resumable mid-epoch.
    # emulate_official=True: the official index list (constant family lengths, RVOS/Ref-SAV without repeats).
    sampler=dict(type=LengthGroupedSampler, per_device_batch_size=2 * 4, emulate_official=False),
    dataset=dict(type=MultitaskMixture, datasets=[s for s, _, _ in mixture_sources],
                 repeats=[r for _, r, _ in mixture_sources], names=[n for _, _, n in mixture_sources],
                 official_lengths=[official_family_lengths.get(n, (100, True)) for _, _, n in mixture_sources]))

# Logs, at the end of every epoch, how many bad samples skip_bad skipped (by kind) and records it dropped.
custom_hooks = [dict(type=DataSkipSummaryHook)]
