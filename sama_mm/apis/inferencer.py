""":class:`SAMAInferencer`: a SAMA model ready for chat, with its inference settings and test pipeline."""
import os.path as osp
from typing import Callable, Dict, Optional, Sequence, Union

import torch
from mmengine.config import Config
from torch import Tensor

from .chat_inputs import ChatPipeline, check_chat_settings, chat_cfg_from_config, pipeline_key
from .chat_session import ChatSession, TurnResult


def _read_weights(checkpoint: str) -> Dict[str, Tensor]:
    """The state dict of a checkpoint file or folder; a file that cannot be read is a ValueError naming it."""
    from sama_mm.utils.weights import read_checkpoint, read_safetensors_folder, unreadable_checkpoint_error
    try:
        return read_safetensors_folder(checkpoint) if osp.isdir(checkpoint) else read_checkpoint(checkpoint)
    except FileNotFoundError:
        raise
    except Exception as exc:  # torch, safetensors and pickle each raise their own types for a broken file
        raise unreadable_checkpoint_error(checkpoint, exc) from None


class SAMAInferencer:
    """A SAMA model ready for chat: built from a config, with weights loaded strictly, in eval mode.

    Like MMDetection's ``DetInferencer``, chat builds its inputs with the config's test pipeline (only the
    annotation-reading steps swapped for in-memory ones, see :class:`~sama_mm.apis.chat_inputs.ChatPipeline`)
    and runs the model's own ``embed_turn`` / ``generate`` / ``segment``, the steps of ``model.test_step``.

    Args:
        config: Config file or :class:`mmengine.config.Config`. Inference settings come from ``chat_cfg`` /
            the test pipeline (see :func:`~sama_mm.apis.chat_inputs.chat_cfg_from_config`);
            ``model.sam2_prompt_frames`` decides which frames prompt SAM2 (``'dense'`` or ``'first'``).
        checkpoint: A converted folder (safetensors), a ``.safetensors`` file or an MMEngine ``.pth``; every
            model key must be present and every checkpoint key used. None keeps the initial (random) weights.
        device: Torch device.
        chat_cfg: Overrides of the inference settings (those of the pipeline are written into its steps).

    Raises:
        ConfigError: (:mod:`sama_mm.utils.config_check`) A config file that is missing or does not load, an
            unknown key or a wrongly typed value in ``model`` / the test pipeline, an unknown inference setting;
            the message names the file or the config key.
        FileNotFoundError: A checkpoint path that does not exist.
        ValueError: A checkpoint that cannot be read.
        StateDictMismatchError: (:mod:`sama_mm.utils.weights`) Checkpoint keys or shapes that differ from the
            model's.
    """

    def __init__(self, config: Union[str, Config], checkpoint: Optional[str] = None, device: str = 'cpu',
                 chat_cfg: Optional[dict] = None):
        from sama_mm.registry import MODELS
        from sama_mm.utils import register_all_modules
        from sama_mm.utils.config_check import check_config, read_config
        from sama_mm.utils.weights import load_state_dict_strict
        register_all_modules()
        cfg = read_config(config) if isinstance(config, str) else config
        check_config(cfg, keys=['model', 'test_pipeline', 'test_dataloader'])
        self.cfg = cfg
        self.settings = chat_cfg_from_config(cfg)
        self.settings.update(check_chat_settings(chat_cfg or {}, 'chat_cfg'))
        if checkpoint is not None and not osp.exists(checkpoint):
            raise FileNotFoundError(f'{checkpoint}: checkpoint not found')
        model = MODELS.build(cfg.model)
        if checkpoint is not None:
            state = _read_weights(checkpoint)
            if osp.isdir(checkpoint):
                from sama_mm.apis.convert import load_our_folder
                load_our_folder(model, checkpoint, state)  # a converted folder (a tied LM head may be stored once)
            else:
                load_state_dict_strict(model, state, where=checkpoint)
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self._pipeline = None
        if self.settings['max_new_tokens'] is None:
            self.settings['max_new_tokens'] = int(model.max_new_tokens)
        if model.backbone.num_image_tokens != self.settings['num_image_tokens']:
            raise ValueError(f'the backbone makes {model.backbone.num_image_tokens} tokens per frame but the chat '
                             f'settings say num_image_tokens={self.settings["num_image_tokens"]}')

    @classmethod
    def from_model(cls, model, cfg: Union[Config, dict, None] = None, **settings) -> 'SAMAInferencer':
        """Wrap an already built model (tests, notebooks); ``settings`` override the inference settings."""
        self = cls.__new__(cls)
        cfg = cfg if isinstance(cfg, Config) else Config(cfg or {})
        self.cfg = cfg
        self.settings = chat_cfg_from_config(cfg)
        self.settings.update(check_chat_settings(settings, 'settings'))
        self.model = model.eval()
        self.device = next(model.parameters()).device
        self._pipeline = None
        if self.settings['max_new_tokens'] is None:
            self.settings['max_new_tokens'] = int(model.max_new_tokens)
        return self

    def chat_pipeline(self) -> ChatPipeline:
        """The test pipeline as chat runs it, built at the current settings (rebuilt when they change)."""
        key = pipeline_key(self.settings)
        if self._pipeline is None or self._pipeline[0] != key:
            self._pipeline = (key, ChatPipeline(self.cfg, self.settings, with_neck=self.model.with_neck))
        return self._pipeline[1]

    def open(self, video: str, frames: Optional[Sequence[str]] = None,
             turn_context: Optional[Callable] = None) -> ChatSession:
        """Start a conversation about a video file or a frame folder (``frames``: names in a folder, in order).

        ``turn_context`` replaces the test pipeline's neck input of each turn (see :class:`ChatSession`).
        """
        return ChatSession(self, video, frames, turn_context=turn_context)

    def __call__(self, video: str, question: str) -> TurnResult:
        """One question about a video (a session of one turn)."""
        return self.open(video).ask(question)
