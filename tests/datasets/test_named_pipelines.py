"""Pipelines from named steps (sama_mm.utils.pipeline) and the configs built on them: a step changed by name
reaches the built pipeline, an unknown name fails, derived pipelines differ from their source only where they
say, and the neck is switched off with one call."""
import pytest
from mmengine.config import Config

from sama_mm.utils.pipeline import (build_pipeline, edit_steps, insert_steps, transform_name, update_transforms,
                                    without_neck)
from tests.conftest import REPO_ROOT

STEPS = dict(init=dict(type='VideoInit'), tokenize=dict(type='ChatTokenize', context_tokens=True, max_length=8),
             qformer=dict(type='QFormerPrompts'), pack=dict(type='PackSAMAInputs'))


def _types(pipeline):
    return [transform_name(step) for step in pipeline]


def _config(path):
    return Config.fromfile(f'{REPO_ROOT}/{path}')


def _pipelines(cfg):
    """Every dataset pipeline of the config's dataloaders."""
    found = []
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if loader:
            dataset = loader['dataset']
            found += [d['pipeline'] for d in dataset.get('datasets', [dataset])]
    return found


def test_build_pipeline_drops_updates_and_replaces_by_name():
    pipeline = build_pipeline(STEPS, qformer=None, tokenize=dict(max_length=4), init=dict(type='ImageInit'))
    assert _types(pipeline) == ['ImageInit', 'ChatTokenize', 'PackSAMAInputs']
    assert pipeline[1] == dict(type='ChatTokenize', context_tokens=True, max_length=4)
    pipeline[1]['max_length'] = 0  # the list is a copy
    assert STEPS['tokenize']['max_length'] == 8 and build_pipeline(STEPS) == list(STEPS.values())


def test_unknown_step_names_fail():
    with pytest.raises(KeyError, match="'tokenise'.*'tokenize'"):
        build_pipeline(STEPS, tokenise=dict(max_length=4))
    with pytest.raises(KeyError, match='masks'):
        insert_steps(STEPS, after='masks', extra=dict(type='X'))
    with pytest.raises(KeyError, match='already'):
        insert_steps(STEPS, after='init', pack=dict(type='X'))
    with pytest.raises(ValueError, match='dropped'):
        edit_steps(edit_steps(STEPS, qformer=None), qformer=dict(grid_size=2))


def test_insert_steps_keeps_the_order():
    steps = insert_steps(STEPS, before='pack', extra=dict(type='Extra'), more=dict(type='More'))
    assert list(steps) == ['init', 'tokenize', 'qformer', 'extra', 'more', 'pack']
    assert list(insert_steps(STEPS, after='init', extra=dict(type='Extra'))) == [
        'init', 'extra', 'tokenize', 'qformer', 'pack']


def test_an_unknown_step_name_in_a_config_fails_when_it_is_read(tmp_path):
    leaf = tmp_path / 'leaf.py'
    leaf.write_text('from sama_mm.utils.pipeline import build_pipeline\n'
                    "steps = dict(init=dict(type='VideoInit'), pack=dict(type='PackSAMAInputs'))\n"
                    "pipeline = build_pipeline.build()(steps, tokenize=dict(max_length=4))\n")
    with pytest.raises(KeyError, match="'tokenize'"):
        Config.fromfile(str(leaf))


def test_a_leaf_change_by_name_reaches_the_built_pipeline():
    cfg = _config('tests/data/configs/leaf_named_steps.py')
    changed = cfg.test_dataloader.dataset.pipeline
    unchanged = cfg.mevis_valid_u_loader.dataset.pipeline
    assert _types(changed) == _types(unchanged)
    diffs = [(transform_name(a), {k: (a[k], b.get(k)) for k in a if a[k] != b.get(k)})
             for a, b in zip(changed, unchanged) if a != b]
    assert diffs == [('SampleFrames', {'max_frames': (16, 32)}), ('ChatTokenize', {'max_length': (4096, 8192)})]
    # the in-place edit of the copied steps reached nothing built by the bases
    assert all(step.get('max_length', 8192) == 8192 for step in cfg.refytvos_valid_loader.dataset.pipeline)


def test_derived_pipelines_differ_only_where_they_say():
    cfg = _config('configs/_base_/datasets/sama_pipelines.py')
    bench_g, bench_c = cfg.sama_bench_g_test_pipeline, cfg.sama_bench_c_test_pipeline
    assert _types(bench_g) == _types(bench_c)
    changed = {transform_name(g): {k: c[k] for k in c if c[k] != g.get(k)} for g, c in zip(bench_g, bench_c)
               if g != c}
    assert changed == {'SAMA239KToRounds': {'task': 'description'}, 'ChatTokenize': {'context_sep': '\n'},
                       'LoadRegionMasks': {'box': False}, 'QFormerPrompts': {'box': False}}  # raw masks (Bench-C)
    conversation, description = cfg.sama239k_train_pipeline, cfg.sama239k_description_train_pipeline
    assert _types(conversation) == _types(description)
    changed = {transform_name(a): sorted(k for k in {*a, *b} if a.get(k) != b.get(k))
               for a, b in zip(conversation, description) if a != b}
    assert set(changed) == {'SAMA239KToRounds', 'ChatTokenize'} and changed['ChatTokenize'] == ['context_sep']
    image = _config('configs/_base_/datasets/image_pipelines.py')
    assert _types(image.image_chat_train_pipeline) == [
        'ImageInit', 'SampleFrames', 'VideoDecode', 'DynamicTiles', 'ChatTokenize', 'QFormerPrompts',
        'PackSAMAInputs']
    assert [s.get('context_sep') for s in image.refcoco_train_pipeline if 'context_sep' in s] == ['']
    assert [s.get('context_sep') for s in image.gcg_test_pipeline if 'context_sep' in s] == ['\n']


def _chat_steps(pipeline):
    return [step for step in pipeline if transform_name(step) == 'ChatTokenize']


def test_sama_demo_has_the_neck_and_its_inputs():
    cfg = _config('configs/demo/sama_tiny_demo.py')
    assert cfg.with_neck and cfg.model.neck is not None
    for pipeline in _pipelines(cfg) + [cfg.test_pipeline]:
        assert 'QFormerPrompts' in _types(pipeline)
        assert [step['context_tokens'] for step in _chat_steps(pipeline)] == [True]


def test_sa2va_demo_switches_the_neck_off_with_one_call():
    cfg = _config('configs/demo/sa2va_tiny_demo.py')
    assert cfg.with_neck is False and cfg.model.neck is None
    pipelines = _pipelines(cfg) + [cfg.test_pipeline, cfg.rvos_train_pipeline]
    assert len(pipelines) == 6  # two training sources, val, test, and the two top-level pipelines
    for pipeline in pipelines:
        assert 'QFormerPrompts' not in _types(pipeline)
        assert [step['context_tokens'] for step in _chat_steps(pipeline)] == [False]
    assert cfg.test_steps['qformer'] is None and cfg.qformer is None
    assert cfg.model.seg_head == _config('configs/demo/sama_tiny_demo.py').model.seg_head


def test_without_neck_needs_a_model():
    with pytest.raises(KeyError, match='model'):
        without_neck(dict(test_pipeline=build_pipeline(STEPS)))
    namespace = dict(model=dict(neck=dict(type='N')), steps=dict(STEPS), pipeline=build_pipeline(STEPS))
    without_neck(namespace)
    assert namespace['steps']['qformer'] is None and _types(namespace['pipeline']) == [
        'VideoInit', 'ChatTokenize', 'PackSAMAInputs']
    assert namespace['pipeline'][1]['context_tokens'] is False and namespace['with_neck'] is False


def test_update_transforms_reaches_every_pipeline_and_fails_on_a_missing_type():
    cfg = _config('configs/sama/sama_4b_mixture.py')
    chats = [step for pipeline in _pipelines(cfg) + [cfg.rvos_train_pipeline] for step in _chat_steps(pipeline)]
    assert chats and all(step['template'] == cfg.model.backbone.template == 'phi3_chat' for step in chats)
    with pytest.raises(ValueError, match='ChatTokenise'):
        update_transforms(dict(p=build_pipeline(STEPS)), 'ChatTokenise', max_length=1)
