"""In-package InternLM2: released names, equality with transformers' Llama under the documented weight mapping,
KV cache, and use inside the backbone (forward, loss, generation, LoRA, checkpointing, from_pretrained)."""
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from sama_mm.models.llms import InternLM2Config, InternLM2ForCausalLM, internlm2_to_llama_state_dict
from tests.models.backbone_helpers import build_tiny_backbone, tiny_internlm2_llm, tiny_tokenizer

SIZES = dict(vocab_size=100, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=8,
             num_key_value_heads=2, max_position_embeddings=8, rope_theta=1e4)


def _pair(rope_scaling, seed=0):
    torch.manual_seed(seed)
    config = InternLM2Config(rope_scaling=rope_scaling, **SIZES)
    ours = InternLM2ForCausalLM(config).eval()
    llama = LlamaForCausalLM(LlamaConfig(rope_scaling=rope_scaling, rms_norm_eps=config.rms_norm_eps,
                                         tie_word_embeddings=False, attention_bias=False, **SIZES)).eval()
    missing = llama.load_state_dict(internlm2_to_llama_state_dict(ours.state_dict(), config), strict=True)
    assert not missing.missing_keys and not missing.unexpected_keys
    return ours, llama


def test_released_parameter_names():
    model = InternLM2ForCausalLM(InternLM2Config(**SIZES))
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    layer = {'attention.wqkv.weight': [(8 + 2 * 2) * 8, 64], 'attention.wo.weight': [64, 64],
             'feed_forward.w1.weight': [96, 64], 'feed_forward.w3.weight': [96, 64],
             'feed_forward.w2.weight': [64, 96], 'attention_norm.weight': [64], 'ffn_norm.weight': [64]}
    expected = {'model.tok_embeddings.weight': [100, 64], 'model.norm.weight': [64], 'output.weight': [100, 64]}
    for i in range(2):
        expected.update({f'model.layers.{i}.{k}': v for k, v in layer.items()})
    assert shapes == expected
    assert model.get_output_embeddings() is model.output


@pytest.mark.parametrize('rope_scaling', [None, dict(type='dynamic', factor=2.0), dict(type='linear', factor=2.0)])
def test_equals_llama_under_the_weight_mapping(rope_scaling):
    ours, llama = _pair(rope_scaling)
    ids = torch.randint(0, 100, (2, 12))  # longer than max_position_embeddings: dynamic NTK is active
    mask = torch.ones(2, 12, dtype=torch.long)
    mask[1, 9:] = 0
    a, b = ours(input_ids=ids, attention_mask=mask).logits, llama(input_ids=ids, attention_mask=mask).logits
    assert torch.allclose(a[0], b[0], atol=1e-5)
    assert torch.allclose(a[1, :9], b[1, :9], atol=1e-5)


def test_wqkv_grouped_layout_by_hand():
    config = InternLM2Config(**SIZES)
    model = InternLM2ForCausalLM(config)
    # Row blocks of head_dim rows: per kv head g, 4 query heads, then key g, then value g.
    w = torch.arange(12.)[:, None, None].expand(12, 8, 64).reshape(96, 64)
    sd = {f'model.layers.0.attention.wqkv.weight': w}
    out = internlm2_to_llama_state_dict(sd, config)
    q, k, v = (out[f'model.layers.0.self_attn.{n}_proj.weight'][::8, 0].tolist() for n in 'qkv')
    assert q == [0, 1, 2, 3, 6, 7, 8, 9] and k == [4, 10] and v == [5, 11]
    assert model.model.layers[0].attention.groups == 4


def test_kv_cache_equals_full_forward():
    ours, _ = _pair(dict(type='dynamic', factor=2.0))
    ids = torch.randint(0, 100, (1, 6))
    full = ours(input_ids=ids).logits
    out = ours(input_ids=ids[:, :3], use_cache=True)
    cache = out.past_key_values
    steps = [out.logits]
    for t in range(3, 6):
        out = ours(input_ids=ids[:, t:t + 1], past_key_values=cache, use_cache=True,
                   attention_mask=torch.ones(1, t + 1))
        steps.append(out.logits)
    assert cache.get_seq_length() == 6
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-5)


@pytest.fixture(scope='module')
def backbone():
    return build_tiny_backbone(llm=tiny_internlm2_llm(), tokenizer=tiny_tokenizer('internlm2_chat'),
                               template='internlm2_chat')


def test_backbone_with_internlm2(backbone):
    assert type(backbone.llm_base).__name__ == 'InternLM2ForCausalLM'
    assert backbone.llm_base.get_output_embeddings() is backbone.llm_base.output
    assert backbone.get_input_embeddings() is backbone.llm_base.model.tok_embeddings
    assert backbone.template.stop_words == ('<|im_end|>', )
    assert backbone.get_input_embeddings().num_embeddings == 560  # larger than the tokenizer: not shrunk
    feats = backbone.encode_images(torch.randn(2, 3, 56, 56))
    embeds = torch.cat([backbone.get_input_embeddings()(torch.tensor([[1, 5, 6]])), feats.reshape(1, 8, 64)], 1)
    hidden, _ = backbone.forward_llm(embeds, None)
    assert hidden.shape == (1, 11, 64)
    logits = backbone.lm_head_logits(hidden)
    labels = torch.randint(0, 500, (1, 11))
    labels[:, :4] = -100
    ref = torch.nn.functional.cross_entropy(logits[0, 3:-1], labels[0, 4:])
    assert torch.allclose(backbone.lm_loss(hidden, labels), ref, atol=1e-5)


def test_backbone_generate_with_internlm2_cache_equals_recomputing(backbone):
    prefix = backbone.get_input_embeddings()(torch.randint(0, 500, (1, 7)))
    out = backbone.generate(prefix, max_new_tokens=5, stop_words=[])
    embedding = backbone.get_input_embeddings()
    seq, ids = prefix, []
    for _ in range(5):
        hidden, _ = backbone.forward_llm(seq, None)
        ids.append(int(backbone.lm_head_logits(hidden[:, -1]).argmax(-1)))
        seq = torch.cat([seq, embedding(torch.tensor([[ids[-1]]]))], 1)
    hidden, _ = backbone.forward_llm(seq, None)
    assert out.token_ids == ids
    assert torch.allclose(out.hidden_states, hidden[0, 7:], atol=1e-4)
    second = backbone.generate(embedding(torch.tensor([[3, 4]])), None, 3, [], out.past_key_values)
    assert second.past_key_values.get_seq_length() == 7 + 5 + 2 + 3


def test_internlm2_lora_and_checkpointing():
    lora = dict(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=['wqkv', 'wo', 'w1', 'w2', 'w3'])
    kwargs = dict(llm=tiny_internlm2_llm(), tokenizer=tiny_tokenizer('internlm2_chat'), template='internlm2_chat')
    ids = torch.randint(0, 500, (1, 10))
    labels = ids.clone()
    labels[:, :5] = -100
    results = []
    for ckpt in (False, True):
        model = build_tiny_backbone(llm_lora=lora, use_activation_checkpointing=ckpt, **kwargs).train()
        trainable = [n for n, p in model.named_parameters() if p.requires_grad and n.startswith('language_model.')]
        assert trainable and all('lora_' in n for n in trainable)
        hidden, _ = model.forward_llm(model.get_input_embeddings()(ids), None)
        loss = model.lm_loss(hidden, labels)
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        assert any('lora_B' in n for n in grads)
        results.append((loss.detach(), grads))
    assert torch.allclose(results[0][0], results[1][0], atol=1e-6)
    for n in results[0][1]:
        assert torch.allclose(results[0][1][n], results[1][1][n], atol=1e-5), n


def test_llm_from_a_local_pretrained_folder(tmp_path, backbone):
    backbone.llm_base.save_pretrained(tmp_path / 'llm')
    for llm_type in (InternLM2ForCausalLM, 'InternLM2ForCausalLM'):
        other = build_tiny_backbone(llm=dict(type=llm_type, pretrained_model_name_or_path=str(tmp_path / 'llm')),
                                    tokenizer=tiny_tokenizer('internlm2_chat'), template='internlm2_chat')
        for (n, a), (m, b) in zip(backbone.language_model.state_dict().items(),
                                  other.language_model.state_dict().items()):
            assert n == m and torch.equal(a, b), n


def test_padding_and_chunked_prefill_with_internlm2(backbone):
    embeds = backbone.get_input_embeddings()(torch.randint(0, 500, (1, 7)))
    full, _ = backbone.forward_llm(embeds, None)
    pad = torch.randn(1, 3, 64)
    left, _ = backbone.forward_llm(torch.cat([pad, embeds], 1), torch.tensor([[0] * 3 + [1] * 7]))
    right, _ = backbone.forward_llm(torch.cat([embeds, pad], 1), torch.tensor([[1] * 7 + [0] * 3]))
    assert torch.allclose(left[:, 3:], full, atol=1e-5) and torch.allclose(right[:, :7], full, atol=1e-5)
    _, cache = backbone.forward_llm(embeds[:, :3], None, use_cache=True)
    rest, _ = backbone.forward_llm(embeds[:, 3:], None, cache)
    assert torch.allclose(rest, full[:, 3:], atol=1e-5)
