"""Tensor names: released SAMA / Sa2VA ↔ ``sama_mm`` (see :mod:`sama_mm.apis.convert`), and LoRA merging."""
from typing import Dict, Tuple

from torch import Tensor, nn

from sama_mm.models.heads.sam2_adapter import sam2_key_from_released, sam2_key_to_released

#: Released prefix → our prefix (order matters only for readability; prefixes do not overlap).
PREFIX_MAP: Tuple[Tuple[str, str], ...] = (
    ('vision_model.', 'backbone.vision_model.'),
    ('mlp1.', 'backbone.mlp1.'),
    ('language_model.', 'backbone.language_model.'),
    ('grounding_encoder.sam2_model.', 'seg_head.sam2_model.'),
    ('text_hidden_fcs.', 'seg_head.text_hidden_fcs.'),
)
#: Released top-level names of the context aggregator (kept unchanged under ``neck.``).
NECK_NAMES: Tuple[str, ...] = ('spatial_Qformer', 'temporal_Qformer', 'vlm2spatial_Qformer_proj', 'Qformer_')


class ConversionError(ValueError):
    """A checkpoint cannot be converted (unknown keys, LoRA weights, missing files)."""


def _is_neck_key(key: str) -> bool:
    return any(key.startswith(n) for n in NECK_NAMES)


def _swap_prefix(key: str, to_ours: bool):
    """``key`` with its :data:`PREFIX_MAP` prefix swapped (either way), SAM2 names respelled; None if none fits."""
    for released, ours in PREFIX_MAP:
        src, dst = (released, ours) if to_ours else (ours, released)
        if key.startswith(src):
            out = dst + key[len(src):]
            if released.startswith('grounding_encoder'):
                out = sam2_key_from_released(out) if to_ours else sam2_key_to_released(out)
            return out
    return None


def released_key_to_ours(key: str) -> str:
    """Map one released tensor name to ours.

    Raises:
        ConversionError: For a name outside the known prefixes.
    """
    out = _swap_prefix(key, to_ours=True)
    if out is not None:
        return out
    if _is_neck_key(key):
        return 'neck.' + key
    raise ConversionError(f'unknown released key {key!r} (known prefixes: '
                          f'{[p for p, _ in PREFIX_MAP] + list(NECK_NAMES)})')


def our_key_to_released(key: str) -> str:
    """Map one of our tensor names to the released name (inverse of :func:`released_key_to_ours`).

    Raises:
        ConversionError: For LoRA weights (merge them first, :func:`merge_lora`) or an unknown name.
    """
    if '.lora_' in key or '.base_model.model.' in key or '.base_layer.' in key:
        raise ConversionError(f'{key!r} is a LoRA weight: merge LoRA into the base model first (merge_lora)')
    out = _swap_prefix(key, to_ours=False)
    if out is not None:
        return out
    if key.startswith('neck.') and _is_neck_key(key[len('neck.'):]):
        return key[len('neck.'):]
    raise ConversionError(f'{key!r} has no released name')


def rename_state(state: Dict[str, Tensor], fn) -> Dict[str, Tensor]:
    """Apply a key map to a state dict, refusing collisions."""
    out: Dict[str, Tensor] = {}
    for key, value in state.items():
        new = fn(key)
        if new in out:
            raise ConversionError(f'two tensors map to {new!r}')
        out[new] = value
    return out


# ------------------------------------------------------------------------------------------------ LoRA
def merge_lora(model: nn.Module) -> nn.Module:
    """Merge LoRA adapters of the backbone LLM into its weights (peft ``merge_and_unload``), in place.

    Returns the model (unchanged when the LLM has no adapters).
    """
    backbone = getattr(model, 'backbone', model)
    llm = backbone.language_model
    if hasattr(llm, 'merge_and_unload'):
        backbone.language_model = llm.merge_and_unload()
    return model


