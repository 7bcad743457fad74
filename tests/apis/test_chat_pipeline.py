"""Chat builds its inputs with the config's test pipeline: a transform added to a config reaches ChatSession (frames
the LLM sees, frames SAM2 tracks through, the text of every round), and chat gives what ``tools/test.py``'s
``model.test_step`` gives for the same video and question (one inference path)."""
import copy

import numpy as np
import pytest
import torch
from mmcv.transforms import BaseTransform
from mmengine.config import Config

from sama_mm.apis import SAMAInferencer
from sama_mm.registry import MODELS, TRANSFORMS
from tests.apis.helpers import SAMA_TINY_CONFIG, TINY_CONFIG, build_tiny_model, overfit_answer, write_frame_folder

QUESTION = 'Please segment the red square.'


@TRANSFORMS.register_module(force=True)
class BlankLLMFrames(BaseTransform):
    """Test only: black out the decoded frames (the frames the LLM sees; SAM2 reads the video itself)."""

    def transform(self, results):
        results['imgs'] = np.zeros_like(results['imgs'])
        return results


class _MirroredFrames:
    """An on-demand SAM2 frame source whose frames are mirrored left-right."""

    def __init__(self, source):
        self.source = source

    def __len__(self):
        return len(self.source)

    def __call__(self, indices):
        return self.source(indices).flip(-1)


@TRANSFORMS.register_module(force=True)
class MirrorSAM2Frames(BaseTransform):
    """Test only: SAM2 tracks through mirrored frames."""

    def transform(self, results):
        results['sam2_frames'] = _MirroredFrames(results['sam2_frames'])
        return results


@TRANSFORMS.register_module(force=True)
class AskPolitely(BaseTransform):
    """Test only, a per-turn step: every question of the conversation ends with ' Thank you.'."""
    chat_per_turn = True

    def transform(self, results):
        results['rounds'] = [dict(r, question=r['question'] + ' Thank you.') for r in results['rounds']]
        return results


def _name(step):
    kind = step['type']
    return kind if isinstance(kind, str) else kind.__name__


def _with_step(cfg, after: str, step: dict):
    """A copy of ``cfg`` whose test pipeline has ``step`` right after its ``after`` step (a leaf config's edit)."""
    cfg = copy.deepcopy(cfg)
    pipeline = list(cfg.test_pipeline)
    k = next(i for i, s in enumerate(pipeline) if _name(s) == after)
    cfg.test_pipeline = pipeline[:k + 1] + [step] + pipeline[k + 1:]
    return cfg


@pytest.fixture(scope='module')
def video(tmp_path_factory):
    return write_frame_folder(str(tmp_path_factory.mktemp('frames') / 'clip'), num_frames=6)


@pytest.fixture(scope='module')
def model_cfg():
    return build_tiny_model(seed=0)


def test_an_added_frame_transform_reaches_the_llm(model_cfg, video):
    model, cfg = model_cfg
    plain = SAMAInferencer.from_model(model, cfg, max_new_tokens=4).open(video)
    blank = SAMAInferencer.from_model(model, _with_step(cfg, 'VideoDecode', dict(type='BlankLLMFrames')),
                                      max_new_tokens=4).open(video)
    # Black frames: every frame gives the same vision tokens, and the answer's hidden states change.
    assert torch.equal(blank.visual[0], blank.visual[-1]) and not torch.equal(plain.visual[0], plain.visual[-1])
    a = plain.ask(QUESTION, answer='It is [SEG].', segment=False)
    b = blank.ask(QUESTION, answer='It is [SEG].', segment=False)
    assert a.token_ids == b.token_ids
    assert not torch.allclose(a.hidden_states, b.hidden_states)
    assert not torch.allclose(a.seg_hidden, b.seg_hidden)


def test_an_added_sam2_frame_transform_reaches_the_masks(model_cfg, video, monkeypatch):
    model, cfg = model_cfg
    head = model.seg_head
    seen = []
    original = head.track

    def spy(frames, *args, **kwargs):
        seen.append(frames([0, 1]))
        return original(frames, *args, **kwargs)

    monkeypatch.setattr(head, 'track', spy)
    plain = SAMAInferencer.from_model(model, cfg).open(video).ask(QUESTION, answer='It is [SEG].')
    mirrored_cfg = _with_step(cfg, 'SAM2FrameSource', dict(type='MirrorSAM2Frames'))
    mirrored = SAMAInferencer.from_model(model, mirrored_cfg).open(video).ask(QUESTION, answer='It is [SEG].')
    assert torch.equal(seen[1], seen[0].flip(-1)) and not torch.equal(seen[1], seen[0])
    torch.testing.assert_close(plain.seg_hidden, mirrored.seg_hidden)  # the LLM saw the same frames
    assert plain.masks.shape == mirrored.masks.shape == (1, 6, 40, 56)
    assert not torch.equal(plain.masks, mirrored.masks)


def test_an_added_per_turn_transform_reaches_every_turn(model_cfg, video):
    model, cfg = model_cfg
    polite_cfg = _with_step(cfg, 'RefVOSToRounds', dict(type='AskPolitely'))
    plain = SAMAInferencer.from_model(model, cfg, max_new_tokens=3).open(video)
    polite = SAMAInferencer.from_model(model, polite_cfg, max_new_tokens=3).open(video)
    for session in (plain, polite):
        session.ask('What is in the video?', segment=False)
        session.ask('Where does it go?', segment=False)
    text = polite.tokenizer.decode(polite.context_ids())
    assert text.count('Thank you.') == 2 and 'Thank you.' not in plain.tokenizer.decode(plain.context_ids())
    assert len(polite.context_ids()) > len(plain.context_ids())
    assert not torch.allclose(polite.turns[1].hidden_states[:1], plain.turns[1].hidden_states[:1])


def _test_step(model, cfg, video):
    """What ``tools/test.py`` computes for one referring expression: the config's test pipeline + test_step."""
    results = dict(video_path=video, video_id='clip', exp_id='0', expression='the red square', anno_ids=[0],
                   obj_ids=[1])
    for step in cfg.test_pipeline:
        results = TRANSFORMS.build(dict(step))(results)
    return model.test_step(dict(inputs=[results['inputs']], data_samples=[results['data_samples']]))[0]


@pytest.mark.parametrize('config', [TINY_CONFIG, SAMA_TINY_CONFIG])
def test_chat_and_test_step_give_the_same_answer_and_masks(config, video):
    torch.manual_seed(0)
    cfg = Config.fromfile(config)
    model = MODELS.build(cfg.model).eval()
    inferencer = SAMAInferencer.from_model(model, cfg)
    if config == TINY_CONFIG:  # teach the answer, so that the masks compared are those of a generated [SEG]
        assert overfit_answer(inferencer, video, [(QUESTION, 'It is [SEG].')]).reached
    pred = _test_step(model, cfg, video)
    turn = inferencer.open(video).ask(QUESTION)
    assert turn.answer == pred.pred_text[0]
    if config == TINY_CONFIG:
        assert turn.answer == 'It is [SEG].' and turn.num_objects == 1
    assert turn.masks.shape == pred.pred_masks.shape
    assert torch.equal(turn.masks, pred.pred_masks)
