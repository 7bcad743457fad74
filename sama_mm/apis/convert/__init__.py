"""Convert released SAMA / Sa2VA Hugging Face folders to ``sama_mm`` models and back.

Released layout (reference §5): ``config.json`` (``model_type = sa2va_chat``: ``llm_config``, ``vision_config``,
``template`` and InternVL fields), ``model-0000k-of-0000n.safetensors`` shards with ``model.safetensors.index.json``
(or one ``model.safetensors``), tokenizer files. Key names map by prefix:

==================================  ======================================
released                            ``sama_mm``
==================================  ======================================
``vision_model.*``                  ``backbone.vision_model.*``
``mlp1.*``                          ``backbone.mlp1.*``
``language_model.*``                ``backbone.language_model.*``
``grounding_encoder.sam2_model.*``  ``seg_head.sam2_model.*`` (``g_weight`` → ``gamma``)
``text_hidden_fcs.*``               ``seg_head.text_hidden_fcs.*``
``spatial_Qformer*``, ``temporal_Qformer*``, ``vlm2spatial_Qformer_proj.*``, ``Qformer_*``   ``neck.*`` (same name)
==================================  ======================================

Every size the released ``config.json`` lacks (Q-Former widths and depths, region MLPs, SAM2 trunk) is inferred
from tensor shapes. Sizes that no tensor shape determines are taken from conventions and can be overridden:
the Q-Former attention heads (``qformer_hidden_size // 64``), the temporal window (16 frames of queries), the
Q-Former ``<mask>``/``<pos>`` ids (the 7th and 6th ids from the end of its vocabulary, as in the released
tokenizer), the SAM2 input size (1024) and the SAM2 attention layout (from the sam2 config with the same trunk, or
Hiera-L's). The converted folder holds ``sama_mm_config.json`` (a data-only config: the model, the test pipeline
and the chat settings, read without running anything, see :mod:`sama_mm.utils.data_config`),
``model.safetensors`` (or shards + index), the tokenizer files and the released ``config.json`` as
``hf_config.json`` (used again by :func:`convert_to_hf`).

Settings: :func:`convert_to_hf` writes the source config's model, test pipeline and effective chat settings to
``sama_mm_config.json`` in the released folder too (the released model class ignores the file), so that
:func:`convert_from_hf` of an exported folder reproduces them exactly. A folder without that file (a real release)
gets the released inference settings (reference §1.6, :func:`default_chat_cfg`) and a test pipeline built from
them (:func:`release_test_pipeline`).

Loading is strict: a key the model lacks or a model key the checkpoint lacks is an error listing them.
"""
from sama_mm.utils.weights import StateDictMismatchError

from .folders import (HF_CONFIG_COPY, OUR_CONFIG, QFORMER_TOKENIZER_DIR, TOKENIZER_FILES, build_model, convert_from_hf,
                      convert_to_hf, hf_config_from_model, load_converted_config, load_our_folder, save_sharded)
from .infer import (DEFAULT_QFORMER_VOCAB, RELEASED_SAM2_PREPROCESSING, SAM2_TRUNKS, default_chat_cfg, infer_llm_cfg,
                    infer_model_cfg, infer_neck_cfg, infer_sam2_cfg, infer_vision_cfg, release_test_pipeline)
from .keys import (NECK_NAMES, PREFIX_MAP, ConversionError, merge_lora, our_key_to_released, released_key_to_ours,
                   rename_state)

__all__ = ['PREFIX_MAP', 'NECK_NAMES', 'ConversionError', 'StateDictMismatchError', 'released_key_to_ours',
           'our_key_to_released', 'rename_state', 'merge_lora', 'infer_model_cfg', 'infer_llm_cfg', 'infer_vision_cfg',
           'infer_sam2_cfg', 'infer_neck_cfg', 'convert_from_hf', 'convert_to_hf', 'load_our_folder', 'save_sharded',
           'build_model', 'load_converted_config', 'release_test_pipeline', 'default_chat_cfg',
           'hf_config_from_model', 'HF_CONFIG_COPY', 'OUR_CONFIG', 'QFORMER_TOKENIZER_DIR', 'TOKENIZER_FILES',
           'DEFAULT_QFORMER_VOCAB', 'RELEASED_SAM2_PREPROCESSING', 'SAM2_TRUNKS']
