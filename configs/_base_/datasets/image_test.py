# Image evaluation sets, each a test dataloader and its evaluator (pick one in a leaf config):
# * RefCOCO / RefCOCO+ (val, testA, testB) and RefCOCOg (val, test): one sample per referring sentence, the
#   first generated [SEG]'s mask scored by cIoU and gIoU against the ref's COCO annotation (instances.json).
#   The refs pickles are converted once, e.g.
#   python data_converters/pickle_to_json.py 'data/ref_seg/refcoco/refs(unc).p' data/ref_seg/refcoco/refs_unc.json \
#       --trust-pickle-code-execution
# * GCG (GLaMM GranD-f val and test): one caption per image, scored by GCGMetric (mIoU, recall with BERT phrase
#   similarity, caption scores) against GLaMM's {split}_gcg_coco_{mask,caption}_gt.json.
from mmengine.config import read_base
from mmengine.dataset import DefaultSampler

from sama_mm.datasets import GCGEvalDataset, RefCOCODataset, sama_collate
from sama_mm.evaluation.metrics import GCGMetric, RefCOCOMetric

with read_base():
    from ..models.internvl_1b import checkpoint_root
    from .image_pipelines import gcg_test_pipeline, refcoco_test_pipeline

data_root = 'data/'
refseg_root = 'ref_seg/'  # below data_root
coco2014_train = 'coco2014/train2014'  # below data_root
gcg_ann_root = 'glamm_data/annotations/val_test/'  # below data_root
gcg_images = 'glamm_data/images/grandf/val_test'  # below data_root
# Phrase similarity of the GCG recall: a local bert-base-uncased folder (never downloaded).
gcg_similarity = dict(type='SentenceEmbeddingSimilarity', model_path=checkpoint_root + '/bert-base-uncased')


def _loader(dataset):
    return dict(batch_size=1, num_workers=2, collate_fn=dict(type=sama_collate),
                sampler=dict(type=DefaultSampler, shuffle=False), dataset=dataset)


def _refcoco(name, refs, split):
    dataset = dict(type=RefCOCODataset, data_root=data_root, ann_file=f'{refseg_root}{name}/{refs}',
                   instances_file=f'{refseg_root}{name}/instances.json', data_prefix=dict(img=coco2014_train),
                   split=split, test_mode=True, pipeline=refcoco_test_pipeline)
    metric = dict(type=RefCOCOMetric, ann_file=f'{data_root}{refseg_root}{name}/instances.json',
                  prefix=f'{name}_{split}')
    return _loader(dataset), metric


def _gcg(split):
    dataset = dict(type=GCGEvalDataset, data_root=data_root, ann_file=f'{gcg_ann_root}{split}_gcg_coco_caption_gt.json',
                   data_prefix=dict(img=gcg_images), test_mode=True, pipeline=gcg_test_pipeline)
    metric = dict(type=GCGMetric, ann_file=f'{data_root}{gcg_ann_root}{split}_gcg_coco_mask_gt.json',
                  caption_file=f'{data_root}{gcg_ann_root}{split}_gcg_coco_caption_gt.json', similarity=gcg_similarity,
                  prefix=f'gcg_{split}')
    return _loader(dataset), metric


refcoco_val_loader, refcoco_val_metric = _refcoco('refcoco', 'refs_unc.json', 'val')
refcoco_testA_loader, refcoco_testA_metric = _refcoco('refcoco', 'refs_unc.json', 'testA')
refcoco_testB_loader, refcoco_testB_metric = _refcoco('refcoco', 'refs_unc.json', 'testB')
refcocoplus_val_loader, refcocoplus_val_metric = _refcoco('refcoco+', 'refs_unc.json', 'val')
refcocoplus_testA_loader, refcocoplus_testA_metric = _refcoco('refcoco+', 'refs_unc.json', 'testA')
refcocoplus_testB_loader, refcocoplus_testB_metric = _refcoco('refcoco+', 'refs_unc.json', 'testB')
refcocog_val_loader, refcocog_val_metric = _refcoco('refcocog', 'refs_umd.json', 'val')
refcocog_test_loader, refcocog_test_metric = _refcoco('refcocog', 'refs_umd.json', 'test')
gcg_val_loader, gcg_val_metric = _gcg('val')
gcg_test_loader, gcg_test_metric = _gcg('test')

del _loader, _refcoco, _gcg  # helpers, not config values (functions cannot be dumped with the config)
