"""Inputs of a chat: the inference settings and the config's test pipeline that builds every turn's input.

A :class:`ChatPipeline` is the model config's test pipeline (``cfg.test_pipeline`` or
``cfg.test_dataloader.dataset.pipeline``) with only its annotation-reading steps swapped for the in-memory ones of
:mod:`sama_mm.datasets.transforms.chat_loading`, so every test-time transform (frame sampling, the ViT and SAM2
image transforms, tokenization, the neck's ``QFormerPrompts``, and any transform a config adds) reaches chat.
It runs in two parts:

* the **frame part** (every step that does not read the conversation: ``VideoInit``, ``SampleFrames``,
  ``VideoDecode``, the image transforms, ``SAM2FrameSource``, added frame transforms), once per session;
* the **turn part** (``LoadChatRounds``, ``ChatTokenize``, ``LoadChatRegions``, ``QFormerPrompts``,
  ``PackSAMAInputs``, and any transform whose class sets ``chat_per_turn = True``), once per turn, on the
  frame part's result and the conversation so far.

The inference settings (:data:`DEFAULT_CHAT_CFG`) that describe the pipeline (frames, sizes, prompt layout) are
read from its steps and can be overridden by ``chat_cfg``, which writes them into those steps before they are
built; ``max_new_tokens``, ``sam2_chunk_size``, ``truncate_history`` and the context limit ``max_length`` are the
session's own.
"""
import copy
import difflib
import inspect
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.config import Config

#: Inference settings and their defaults (read from the config's ``chat_cfg`` first, then its test pipeline).
DEFAULT_CHAT_CFG = dict(
    interval=3, max_frames=32, min_frames=8, num_dense=5, dense_policy='first',  # which frames the LLM sees
    sparse_policy='spread',
    vit_image_size=448, num_image_tokens=256, context_tokens=False, context_sep='', frames_sep='', max_length=8192,
    sam2_image_size=1024, sam2_chunk_size=None, max_new_tokens=None,
    resize_backend='torch', sam2_resize_backend='torch', sam2_round_norm_to_bf16=False,  # 'pil' + True: released
    truncate_history=True)  # drop the oldest turns (keeping the frame block) when max_length is reached

#: The settings that are arguments of a test-pipeline step: setting -> (transform class name, argument).
PIPELINE_SETTINGS: Dict[str, Tuple[str, str]] = {
    **{key: ('SampleFrames', key)
       for key in ('interval', 'max_frames', 'min_frames', 'num_dense', 'dense_policy', 'sparse_policy')},
    'vit_image_size': ('InternVLImageTransform', 'image_size'),
    'resize_backend': ('InternVLImageTransform', 'resize_backend'),
    **{key: ('ChatTokenize', key)
       for key in ('num_image_tokens', 'context_tokens', 'context_sep', 'frames_sep', 'max_length')},
    'sam2_image_size': ('SAM2FrameSource', 'image_size'),
    'sam2_resize_backend': ('SAM2FrameSource', 'resize_backend'),
    'sam2_round_norm_to_bf16': ('SAM2FrameSource', 'round_norm_to_bf16'),
}


def test_pipeline_of(cfg: Config) -> Sequence[dict]:
    """The test pipeline of a config: ``cfg.test_pipeline``, else ``cfg.test_dataloader.dataset.pipeline``."""
    return cfg.get('test_pipeline') or cfg.get('test_dataloader', {}).get('dataset', {}).get('pipeline', [])


def _step_class(step: Any) -> Optional[type]:
    """The transform class of a step config (``type`` a class or a registry name); None if unknown."""
    from sama_mm.registry import TRANSFORMS
    kind = step.get('type') if isinstance(step, dict) else None
    if isinstance(kind, type):
        return kind
    return TRANSFORMS.get(kind) if isinstance(kind, str) else None


def _is(cls: Optional[type], name: str) -> bool:
    return cls is not None and any(base.__name__ == name for base in cls.__mro__)


def _argument(step: dict, cls: type, arg: str) -> Any:
    """A step's argument as the transform will see it: its config value, else the class default."""
    if arg in step:
        return step[arg]
    param = inspect.signature(cls.__init__).parameters.get(arg)
    return None if param is None else param.default


def chat_cfg_from_config(cfg: Config) -> Dict[str, Any]:
    """Inference settings of a model config.

    Order of precedence: ``cfg.chat_cfg`` entries, then the arguments of the test pipeline's steps (see
    :data:`PIPELINE_SETTINGS`; an argument a step leaves out has its class default), then
    :data:`DEFAULT_CHAT_CFG` (for steps the pipeline does not have).
    """
    out = dict(DEFAULT_CHAT_CFG)
    for step in test_pipeline_of(cfg):
        cls = _step_class(step)
        for key, (owner, arg) in PIPELINE_SETTINGS.items():
            if _is(cls, owner):
                out[key] = _argument(step, cls, arg)
    out.update(check_chat_settings(cfg.get('chat_cfg') or {}, 'chat_cfg'))
    return out


def check_chat_settings(settings: dict, where: str) -> dict:
    """Return ``settings`` if every key is an inference setting (:data:`DEFAULT_CHAT_CFG`).

    Raises:
        ConfigError: For an unknown key, naming it (``chat_cfg.max_new_token``) and the closest known ones, and for
            a ``max_new_tokens`` that is not a positive integer.
    """
    from sama_mm.utils.config_check import ConfigError
    if not isinstance(settings, dict):
        raise ConfigError(where, f'expected a dict of inference settings, got {type(settings).__name__}')
    for key in settings:
        if key not in DEFAULT_CHAT_CFG:
            close = difflib.get_close_matches(str(key), list(DEFAULT_CHAT_CFG), n=2, cutoff=0.6)
            hint = f'did you mean {" or ".join(map(repr, close))}?' if close else \
                f'known: {", ".join(sorted(DEFAULT_CHAT_CFG))}'
            raise ConfigError(f'{where}.{key}', f'unknown inference setting {key!r}; {hint}')
    value = settings.get('max_new_tokens')
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1):
        raise ConfigError(f'{where}.max_new_tokens',
                          f'must be a positive integer (the generation limit), got {value!r}')
    return dict(settings)


def pipeline_key(settings: Dict[str, Any]) -> tuple:
    """The settings a :class:`ChatPipeline` is built from (a new one is needed when one of them changes)."""
    return tuple((key, repr(settings[key])) for key in PIPELINE_SETTINGS if key != 'max_length')


class ChatPipeline:
    """The config's test pipeline as chat runs it (see the module docstring).

    Args:
        cfg: The model config.
        settings: The inference settings; those of :data:`PIPELINE_SETTINGS` are written into their steps
            (``ChatTokenize.max_length`` is lifted: the session keeps the conversation under ``max_length``
            itself, dropping whole old turns; ``SampleFrames.min_frames`` is capped at ``max_frames``).
        with_neck: Whether the model has a context-aggregator neck: a region-mask step is then inserted before
            ``QFormerPrompts`` when the pipeline has none; without a neck, ``QFormerPrompts`` is left out.

    Raises:
        ConfigError: The config has no test pipeline, or it has no ``ChatTokenize`` step.
    """

    def __init__(self, cfg: Config, settings: Dict[str, Any], with_neck: bool = False):
        from sama_mm.datasets.transforms import PackSAMAInputs, SAM2FrameSource
        from sama_mm.datasets.transforms.chat_loading import LoadChatRegions, LoadChatRounds
        from sama_mm.registry import TRANSFORMS
        from sama_mm.utils.config_check import ConfigError
        steps = [dict(step) for step in test_pipeline_of(cfg)]  # arguments are set on these copies only
        if not steps:
            raise ConfigError('test_pipeline', 'chat builds its inputs with the test pipeline, and the config has '
                              'none (neither test_pipeline nor test_dataloader.dataset.pipeline)')
        built = []
        for step in steps:
            cls = _step_class(step)
            for key, (owner, arg) in PIPELINE_SETTINGS.items():
                if _is(cls, owner):
                    step[arg] = settings[key]
            if _is(cls, 'SampleFrames'):  # an override of max_frames alone must not contradict min_frames
                step['min_frames'] = min(settings['min_frames'], settings['max_frames'])
            if _is(cls, 'ChatTokenize'):
                step['max_length'] = 2**62
            if _is(cls, 'LoadSegMasks') or (_is(cls, 'QFormerPrompts') and not with_neck):
                continue  # ground truth: nothing to load in a chat; the neck's input: no neck to read it
            if _is(cls, 'RefVOSToRounds') or _is(cls, 'SAMA239KToRounds'):  # the annotation -> the conversation
                built.append(LoadChatRounds())
            elif _is(cls, 'LoadRegionMasks'):
                built.append(LoadChatRegions(box=_argument(step, cls, 'box')))
            else:
                built.append(TRANSFORMS.build(step))
        names = [type(t).__name__ for t in built]
        if 'ChatTokenize' not in names:
            raise ConfigError('test_pipeline', f'chat needs a ChatTokenize step in the test pipeline; its steps are '
                              f'{", ".join(names)}')
        if 'LoadChatRounds' not in names:
            built.insert(names.index('ChatTokenize'), LoadChatRounds())
        if with_neck and 'QFormerPrompts' in names and 'LoadChatRegions' not in names:
            built.insert(next(i for i, t in enumerate(built) if _is(type(t), 'QFormerPrompts')), LoadChatRegions())
        if not any(isinstance(t, PackSAMAInputs) for t in built):
            built.append(PackSAMAInputs())
        if not any(isinstance(t, SAM2FrameSource) for t in built):  # chat tracks masks through every frame
            built.insert(len(built) - 1, SAM2FrameSource(settings['sam2_image_size'], settings['sam2_resize_backend'],
                                                         settings['sam2_round_norm_to_bf16']))
        self.transforms = built
        self.tokenize = next(t for t in built if _is(type(t), 'ChatTokenize'))
        self.tokenize.generation = True
        closed = copy.copy(self.tokenize)
        closed.generation = False
        self.frame_steps = [t for t in built if not self.per_turn(t)]
        self.turn_steps = [t for t in built if self.per_turn(t)]
        self.closed_turn_steps = [closed if t is self.tokenize else t for t in self.turn_steps]

    @staticmethod
    def per_turn(transform) -> bool:
        """Whether a step reads the conversation (runs every turn) rather than only the video (once)."""
        names = ('LoadChatRounds', 'LoadChatRegions', 'ChatTokenize', 'QFormerPrompts', 'PackSAMAInputs')
        return getattr(transform, 'chat_per_turn', False) or any(_is(type(transform), n) for n in names)

    @staticmethod
    def _run(steps: Sequence, results: dict) -> dict:
        for t in steps:
            out = t(results)
            if out is None:
                raise ValueError(f'the test-pipeline step {t!r} dropped the chat sample')
            results = out
        return results

    def frames(self, video: str, frames: Optional[Sequence[str]] = None, video_id: str = '') -> dict:
        """Run the frame part on a video file or frame folder; returns the transformed sample."""
        return self._run(self.frame_steps, dict(video_path=video, frames=list(frames) if frames is not None else None,
                                                video_id=video_id))

    def turn(self, frame_results: dict, rounds: List[dict], generation: bool = True) -> dict:
        """Run the turn part on a conversation and return the packed ``dict(inputs, data_samples)``.

        Args:
            frame_results: The result of :meth:`frames` (not modified).
            rounds: ``dict(question, answer, regions)`` per round (see ``LoadChatRounds``).
            generation: End with a generation prompt (the last round's answer left out); False: every round closed
                with its answer, ``SUFFIX`` and ``SEP``.
        """
        steps = self.turn_steps if generation else self.closed_turn_steps
        return self._run(steps, dict(frame_results, chat_rounds=rounds))


def region_prompt_mask(prompt: Any, shape: Sequence[int]) -> np.ndarray:
    """A region prompt on one frame as a binary ``[H, W]`` mask.

    Args:
        prompt: A box ``(x1, y1, x2, y2)`` in pixels (the reference encodes regions as box masks anyway) or a
            binary mask ``[H, W]``.
        shape: ``(H, W)`` of the video.

    Raises:
        ValueError: A box outside the frame or empty after clipping, a mask of another size, an empty mask.
    """
    height, width = (int(v) for v in shape)
    if isinstance(prompt, (tuple, list)) and len(prompt) == 4 and all(np.isscalar(v) for v in prompt):
        try:
            x1, y1, x2, y2 = (float(v) for v in prompt)
        except (TypeError, ValueError):
            raise ValueError(f'region box {tuple(prompt)} must hold 4 numbers (x1, y1, x2, y2)') from None
        if not all(np.isfinite(v) for v in (x1, y1, x2, y2)):
            raise ValueError(f'region box {tuple(prompt)} has a non-finite coordinate')
        if x2 <= x1 or y2 <= y1:
            raise ValueError(f'region box {tuple(prompt)} is empty: x2 > x1 and y2 > y1 are required')
        if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
            raise ValueError(f'region box {tuple(prompt)} is outside the {width}x{height} (WxH) frame')
        mask = np.zeros((height, width), np.uint8)
        mask[max(int(np.floor(y1)), 0):min(int(np.ceil(y2)), height),
             max(int(np.floor(x1)), 0):min(int(np.ceil(x2)), width)] = 1
        return mask
    mask = np.asarray(prompt)
    if mask.ndim != 2:
        raise ValueError(f'a region prompt must be a box (x1, y1, x2, y2), a binary [H, W] mask or a dict of '
                         f'points/box; got {type(prompt).__name__} {prompt!r:.60}')
    if mask.shape != (height, width):
        raise ValueError(f'region mask has shape {mask.shape}, the video is {height}x{width}')
    if not mask.any():
        raise ValueError('region mask is empty')
    return (mask != 0).astype(np.uint8)
