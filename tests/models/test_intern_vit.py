"""InternViT: released parameter names, shapes, position interpolation, layer selection, checkpointing."""
import pytest
import torch

from sama_mm.models.vlms import InternVisionModel
from sama_mm.registry import MODELS

TINY = dict(image_size=56, patch_size=14, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=64)
LAYER_KEYS = ['attn.proj.bias', 'attn.proj.weight', 'attn.qkv.bias', 'attn.qkv.weight', 'ls1', 'ls2',
              'mlp.fc1.bias', 'mlp.fc1.weight', 'mlp.fc2.bias', 'mlp.fc2.weight', 'norm1.bias', 'norm1.weight',
              'norm2.bias', 'norm2.weight']


def test_parameter_names_and_shapes_follow_the_released_layout():
    # Released tiny layout: width 32, MLP 64, 2 layers, 448 px -> position table [1, 1025, 32].
    model = InternVisionModel(image_size=448, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                              intermediate_size=64)
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    expected = {'embeddings.class_embedding': [1, 1, 32], 'embeddings.patch_embedding.weight': [32, 3, 14, 14],
                'embeddings.patch_embedding.bias': [32], 'embeddings.position_embedding': [1, 1025, 32]}
    for i in range(2):
        expected.update({
            f'encoder.layers.{i}.{k}': s for k, s in zip(LAYER_KEYS, [[32], [32, 32], [96], [96, 32], [32], [32],
                                                                      [64], [64, 32], [32], [32, 64], [32], [32],
                                                                      [32], [32]])})
    assert shapes == expected


def test_forward_shapes_and_registry():
    model = MODELS.build(dict(type='InternVisionModel', **TINY)).eval()
    out = model(torch.randn(2, 3, 56, 56))
    assert out.shape == (2, 1 + 16, 32)
    last, hidden = model(torch.randn(2, 3, 56, 56), output_hidden_states=True)
    assert len(hidden) == 3 and hidden[0].shape == last.shape
    x = torch.randn(1, 3, 56, 56)
    assert torch.allclose(model(x, output_hidden_states=True)[1][-1], model(x))
    with pytest.raises(ValueError):
        model(torch.randn(1, 3, 50, 50))


def test_position_embedding_is_interpolated_for_other_sizes():
    torch.manual_seed(0)
    model = InternVisionModel(**TINY).eval()
    emb = model.embeddings
    # Same grid: the table is used as is.
    assert torch.equal(emb._patch_pos_embed(4, 4, torch.float32), emb.position_embedding[:, 1:])
    # Another grid: bicubic resize of the 4x4 table.
    table = emb.position_embedding[:, 1:].reshape(1, 4, 4, 32).permute(0, 3, 1, 2)
    ref = torch.nn.functional.interpolate(table, size=(8, 8), mode='bicubic', align_corners=False)
    assert torch.allclose(emb._patch_pos_embed(8, 8, torch.float32), ref.flatten(2).transpose(1, 2))
    assert model(torch.randn(1, 3, 112, 112)).shape == (1, 65, 32)


def test_gradient_checkpointing_gives_the_same_grads():
    torch.manual_seed(0)
    model = InternVisionModel(**TINY, drop_path_rate=0.0).train()
    x = torch.randn(2, 3, 56, 56)
    model(x).square().mean().backward()
    ref = {k: p.grad.clone() for k, p in model.named_parameters()}
    model.zero_grad()
    model.gradient_checkpointing_enable()
    model(x).square().mean().backward()
    for k, p in model.named_parameters():
        assert torch.allclose(p.grad, ref[k], atol=1e-6), k


def test_drop_path_only_in_training():
    torch.manual_seed(0)
    model = InternVisionModel(**TINY, drop_path_rate=0.5)
    x = torch.randn(4, 3, 56, 56)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    torch.manual_seed(1)
    a = model(x)
    torch.manual_seed(2)
    assert not torch.equal(a, model(x))
