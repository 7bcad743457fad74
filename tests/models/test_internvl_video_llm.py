"""InternVLVideoLLM at tiny size: shapes, pixel shuffle, tokenizer handling, freezing, LoRA, checkpointing,
labelled-only loss and KV-cached generation."""
import pytest
import torch

from sama_mm.models.vlms import InternVLVideoLLM, pixel_shuffle
from sama_mm.structures.tokens import INTERNVL_SPECIAL_TOKENS, SAMA_SPECIAL_TOKENS
from tests.models.backbone_helpers import build_tiny_backbone, tiny_tokenizer


@pytest.fixture(scope='module')
def model():
    return build_tiny_backbone()


def _prompt(model, length=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 500, (1, length), generator=g)
    return model.get_input_embeddings()(ids)


def test_submodules_ids_and_sizes(model):
    assert isinstance(model, InternVLVideoLLM)
    top = {name for name, _ in model.named_children()}
    assert {'vision_model', 'mlp1', 'language_model'} <= top
    assert [type(m).__name__ for m in model.mlp1] == ['LayerNorm', 'Linear', 'GELU', 'Linear']
    assert model.hidden_size == 64 and model.num_image_tokens == 4  # (56 / 14)^2 * 0.5^2
    tok = model.tokenizer
    assert model.img_context_token_id == tok.convert_tokens_to_ids('<IMG_CONTEXT>')
    assert model.seg_token_id == tok.convert_tokens_to_ids('[SEG]')
    assert model.template.name == 'qwen_chat'
    keys = set(model.state_dict())
    assert {'mlp1.0.weight', 'mlp1.1.weight', 'mlp1.3.weight', 'language_model.lm_head.weight',
            'language_model.model.embed_tokens.weight', 'vision_model.embeddings.position_embedding',
            'vision_model.encoder.layers.1.attn.qkv.weight'} <= keys


def test_encode_images_shapes(model):
    feats = model.encode_images(torch.randn(3, 3, 56, 56))
    assert feats.shape == (3, model.num_image_tokens, 64)
    # Larger frames: more tokens ((112 / 14)^2 / 4 = 16).
    assert model.encode_images(torch.randn(1, 3, 112, 112)).shape == (1, 16, 64)


def test_pixel_shuffle_matches_a_hand_made_example():
    x = torch.arange(16.).reshape(1, 4, 4, 1)  # cell (r, c) holds 4r + c
    out = pixel_shuffle(x, 0.5, 'v2')
    assert out.shape == (1, 2, 2, 4)
    assert out[0, 0, 0].tolist() == [0, 1, 4, 5]
    assert out[0, 0, 1].tolist() == [2, 3, 6, 7]
    assert out[0, 1, 0].tolist() == [8, 9, 12, 13]
    assert out[0, 1, 1].tolist() == [10, 11, 14, 15]
    # v1 leaves the spatial axes swapped.
    assert torch.equal(pixel_shuffle(x, 0.5, 'v1'), out.transpose(1, 2))
    # Channels stay grouped per source cell.
    y = torch.stack([x, 100 + x], dim=-1).reshape(1, 4, 4, 2)
    assert pixel_shuffle(y, 0.5)[0, 0, 1].tolist() == [2, 102, 3, 103, 6, 106, 7, 107]
    with pytest.raises(ValueError):
        pixel_shuffle(torch.zeros(1, 3, 3, 4), 0.5)


def test_encode_images_is_vit_then_shuffle_then_mlp1(model):
    x = torch.randn(2, 3, 56, 56)
    feats = model.vision_model(x)[:, 1:].reshape(2, 4, 4, 32)
    ref = model.mlp1(pixel_shuffle(feats, 0.5).reshape(2, 4, 128))
    assert torch.allclose(model.encode_images(x), ref, atol=1e-6)
    other = build_tiny_backbone(select_layer=-2)
    feats = other.vision_model(x, output_hidden_states=True)[1][-2][:, 1:].reshape(2, 4, 4, 32)
    ref = other.mlp1(pixel_shuffle(feats, 0.5).reshape(2, 4, 128))
    assert torch.allclose(other.encode_images(x), ref, atol=1e-6)


def test_special_tokens_added_where_missing_and_vocab_resized():
    tok = tiny_tokenizer(with_model_specials=False)
    before = len(tok)
    model = build_tiny_backbone(tokenizer=tok)
    added = INTERNVL_SPECIAL_TOKENS + SAMA_SPECIAL_TOKENS
    assert len(model.tokenizer) == before + len(added)
    assert [model.tokenizer.convert_tokens_to_ids(t) for t in added] == list(range(before, before + len(added)))
    assert model.get_input_embeddings().num_embeddings == len(model.tokenizer)
    assert model.llm_base.get_output_embeddings().out_features == len(model.tokenizer)


def test_vocab_is_never_shrunk():
    cfg = build_tiny_backbone().language_model.config.to_dict()
    llm = dict(type='Qwen2ForCausalLM', config={k: cfg[k] for k in (
        'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads')})
    llm['config']['vocab_size'] = 1000
    model = build_tiny_backbone(llm=llm)
    assert len(model.tokenizer) < 1000 and model.get_input_embeddings().num_embeddings == 1000


def _trainable(model):
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_freeze_flags():
    model = build_tiny_backbone()
    assert all(n.startswith('mlp1.') for n in _trainable(model))
    model.train()
    assert not model.vision_model.training and model.mlp1.training
    model = build_tiny_backbone(freeze_vision=False, freeze_llm=False)
    trainable = _trainable(model)
    assert any(n.startswith('vision_model.') for n in trainable)
    assert any(n.startswith('language_model.') for n in trainable)
    # Frozen parameters get no gradient.
    model = build_tiny_backbone(freeze_llm=False)
    feats = model.encode_images(torch.randn(1, 3, 56, 56))
    hidden, _ = model.forward_llm(feats, torch.ones(1, 4))
    hidden.sum().backward()
    for name, p in model.named_parameters():
        if name.startswith('vision_model.'):
            assert p.grad is None, name
        elif name.startswith(('mlp1.', 'language_model.model.layers.')):
            assert p.grad is not None, name


def test_lora_wraps_the_llm_and_only_lora_trains():
    lora = dict(type='LoraConfig', r=4, lora_alpha=8, lora_dropout=0.0,
                target_modules=['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'])
    model = build_tiny_backbone(llm_lora=lora)
    from peft import PeftModel
    assert isinstance(model.language_model, PeftModel)
    llm_trainable = {n for n in _trainable(model) if n.startswith('language_model.')}
    assert llm_trainable and all('lora_' in n for n in llm_trainable)
    assert all(n.startswith(('mlp1.', 'language_model.')) for n in _trainable(model))
    hidden, _ = model.forward_llm(_prompt(model), None)
    labels = torch.randint(0, 500, (1, 9))
    model.lm_loss(hidden, labels).backward()
    for n, p in model.named_parameters():
        if 'lora_B' in n:
            assert p.grad is not None and p.grad.abs().sum() > 0
        elif not p.requires_grad:
            assert p.grad is None


def test_lora_model_loads_a_checkpoint_saved_without_lora(model):
    """Fine-tuning with LoRA from a plain checkpoint: the LLM weights load under peft's names (not left random)."""
    lora = dict(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=['q_proj', 'v_proj'])
    plain = {k: v + 0.5 if v.is_floating_point() else v for k, v in model.state_dict().items()}
    wrapped = build_tiny_backbone(llm_lora=lora)
    result = wrapped.load_state_dict(plain, strict=False)
    assert result.unexpected_keys == []
    assert result.missing_keys and all('.lora_' in k for k in result.missing_keys)
    own = wrapped.state_dict()
    q = 'language_model.base_model.model.model.layers.0.self_attn.q_proj.base_layer.weight'
    assert torch.equal(own[q], plain['language_model.model.layers.0.self_attn.q_proj.weight'])
    k = 'language_model.base_model.model.model.layers.0.self_attn.k_proj.weight'
    assert torch.equal(own[k], plain['language_model.model.layers.0.self_attn.k_proj.weight'])


def _loss_and_grads(model, frames, ids, labels):
    model.train()
    model.zero_grad()
    embeds = model.get_input_embeddings()(ids).clone()
    embeds[:, 1:5] = model.encode_images(frames)[0]
    hidden, _ = model.forward_llm(embeds, torch.ones_like(ids))
    loss = model.lm_loss(hidden, labels)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_activation_checkpointing_gives_the_same_loss_and_grads():
    torch.manual_seed(1)
    frames, ids = torch.randn(1, 3, 56, 56), torch.randint(0, 500, (1, 12))
    labels = ids.clone()
    labels[:, :6] = -100
    base = build_tiny_backbone(freeze_vision=False, freeze_llm=False)
    ckpt = build_tiny_backbone(freeze_vision=False, freeze_llm=False, use_activation_checkpointing=True)
    assert ckpt.vision_model.encoder.gradient_checkpointing and ckpt.llm_base.model.gradient_checkpointing
    loss_a, grads_a = _loss_and_grads(base, frames, ids, labels)
    loss_b, grads_b = _loss_and_grads(ckpt, frames, ids, labels)
    assert torch.allclose(loss_a, loss_b, atol=1e-6)
    assert grads_a.keys() == grads_b.keys() and any(k.startswith('vision_model.') for k in grads_a)
    for k in grads_a:
        assert torch.allclose(grads_a[k], grads_b[k], atol=1e-5), k


def test_forward_llm_padding_and_cache(model):
    embeds = _prompt(model, 7)
    full, _ = model.forward_llm(embeds, torch.ones(1, 7))
    # Right padding leaves the real positions unchanged; left padding too (positions follow the mask).
    pad = torch.randn(1, 3, 64)
    right, _ = model.forward_llm(torch.cat([embeds, pad], 1), torch.tensor([[1] * 7 + [0] * 3]))
    left, _ = model.forward_llm(torch.cat([pad, embeds], 1), torch.tensor([[0] * 3 + [1] * 7]))
    assert torch.allclose(right[:, :7], full, atol=1e-5)
    assert torch.allclose(left[:, 3:], full, atol=1e-5)
    # Prefix with cache + rest (mask given for the new tokens only, or for all) equals one pass.
    _, cache = model.forward_llm(embeds[:, :4], torch.ones(1, 4), use_cache=True)
    rest, cache = model.forward_llm(embeds[:, 4:], torch.ones(1, 3), cache)
    assert cache.get_seq_length() == 7
    assert torch.allclose(rest, full[:, 4:], atol=1e-5)
    _, cache = model.forward_llm(embeds[:, :4], None, use_cache=True)
    rest, _ = model.forward_llm(embeds[:, 4:], torch.ones(1, 7), cache)
    assert torch.allclose(rest, full[:, 4:], atol=1e-5)


def test_lm_head_and_loss_match_the_full_logits(model):
    embeds = _prompt(model, 10)
    hidden, _ = model.forward_llm(embeds, None)
    logits = model.lm_head_logits(hidden)
    assert logits.shape == (1, 10, len(model.tokenizer))
    ref_logits = model.language_model(inputs_embeds=embeds).logits
    assert torch.allclose(logits, ref_logits, atol=1e-5)
    labels = torch.full((1, 10), -100)
    labels[0, 6:] = torch.tensor([3, 4, 5, 6])
    seen = []
    handle = model.llm_base.lm_head.register_forward_hook(lambda m, i, o: seen.append(i[0].shape))
    loss = model.lm_loss(hidden, labels)
    handle.remove()
    assert seen == [torch.Size([4, 64])]
    ref = torch.nn.functional.cross_entropy(ref_logits[0, 5:9], labels[0, 6:])
    assert torch.allclose(loss, ref, atol=1e-5)


def _greedy_by_recomputing(model, prefix, steps):
    """Reference decoding without a cache: re-run the whole sequence for every new token."""
    embedding = model.get_input_embeddings()
    seq, ids = prefix, []
    for _ in range(steps):
        hidden, _ = model.forward_llm(seq, None)
        ids.append(int(model.lm_head_logits(hidden[:, -1]).argmax(-1)))
        seq = torch.cat([seq, embedding(torch.tensor([[ids[-1]]]))], dim=1)
    hidden, _ = model.forward_llm(seq, None)
    return ids, hidden[0, prefix.shape[1]:], seq


def test_generate_with_cache_equals_recomputing(model):
    prefix = _prompt(model, 9)
    out = model.generate(prefix, torch.ones(1, 9), max_new_tokens=6, stop_words=[])
    assert len(out.token_ids) == 6 and out.hidden_states.shape == (6, 64)
    ids, hidden, _ = _greedy_by_recomputing(model, prefix, 6)
    assert out.token_ids == ids
    # Row k is the hidden state of the step that consumes token k (its position in the full sequence).
    assert torch.allclose(out.hidden_states, hidden, atol=1e-4)
    assert out.past_key_values.get_seq_length() == 9 + 6


def test_generate_stops_on_stop_words_and_eos(model):
    prefix = _prompt(model, 9, seed=3)
    free = model.generate(prefix, max_new_tokens=8, stop_words=[]).token_ids
    # A multi-token or plain-text stop word matches on the decoded text.
    word = model.tokenizer.decode(free[2:4])
    expect = next(i for i in range(8) if model.tokenizer.decode(free[:i + 1]).endswith(word))
    out = model.generate(prefix, max_new_tokens=8, stop_words=[word])
    assert out.token_ids == free[:expect + 1] and out.hidden_states.shape[0] == expect + 1
    # A single-token stop word (and EOS) stop on the id.
    tok_str = model.tokenizer.convert_ids_to_tokens(free[1])
    assert model.generate(prefix, max_new_tokens=8, stop_words=[tok_str]).token_ids == \
        free[:free.index(free[1]) + 1]
    eos = model.tokenizer.eos_token_id
    model.tokenizer.eos_token = model.tokenizer.convert_ids_to_tokens(free[0])
    try:
        assert model.generate(prefix, max_new_tokens=8, stop_words=[]).token_ids == free[:1]
    finally:
        model.tokenizer.eos_token = model.tokenizer.convert_ids_to_tokens(eos)
    assert model.generate(prefix, max_new_tokens=0).token_ids == []


def test_multi_turn_continuation_equals_recomputing(model):
    turn1 = _prompt(model, 9, seed=4)
    first = model.generate(turn1, None, max_new_tokens=4, stop_words=[])
    turn2 = _prompt(model, 5, seed=5)
    second = model.generate(turn2, torch.ones(1, 5), max_new_tokens=4, stop_words=[],
                            past_key_values=first.past_key_values)
    embedding = model.get_input_embeddings()
    history = torch.cat([turn1, embedding(torch.tensor([first.token_ids])), turn2], dim=1)
    ids, hidden, _ = _greedy_by_recomputing(model, history, 4)
    assert second.token_ids == ids
    assert torch.allclose(second.hidden_states, hidden, atol=1e-4)
    assert second.past_key_values.get_seq_length() == 9 + 4 + 5 + 4


def test_seg_hidden_state_is_read_from_the_consuming_step(model):
    # Force [SEG] as the second generated token by making its logit dominate at that step.
    prefix = _prompt(model, 9, seed=6)
    free = model.generate(prefix, max_new_tokens=3, stop_words=[])
    head = model.llm_base.lm_head
    saved = head.weight.data.clone()
    try:
        # Orthogonal to the prompt's last state (no effect on token 0), aligned with the next step's state.
        h_prompt = model.forward_llm(prefix, None)[0][0, -1]
        h_next = free.hidden_states[0]
        w = h_next - (h_next @ h_prompt) / (h_prompt @ h_prompt) * h_prompt
        head.weight.data[model.seg_token_id] = 100 * w / (w @ h_next)
        out = model.generate(prefix, max_new_tokens=3, stop_words=[])
    finally:
        head.weight.data.copy_(saved)
    assert out.token_ids[:2] == [free.token_ids[0], model.seg_token_id]
    embedding = model.get_input_embeddings()
    seq = torch.cat([prefix, embedding(torch.tensor([out.token_ids[:2]]))], dim=1)
    hidden, _ = model.forward_llm(seq, None)
    seg_rows = [k for k, t in enumerate(out.token_ids) if t == model.seg_token_id]
    assert torch.allclose(out.hidden_states[seg_rows[0]], hidden[0, -1], atol=1e-4)


def test_bfloat16_backbone_runs():
    model = build_tiny_backbone(torch_dtype='bfloat16')
    assert model.vision_model.dtype == torch.bfloat16 and model.llm_dtype == torch.bfloat16
    assert model.mlp1[1].weight.dtype == torch.float32
    feats = model.encode_images(torch.randn(1, 3, 56, 56))
    hidden, _ = model.forward_llm(feats, None)
    assert hidden.dtype == torch.bfloat16 and hidden.shape == (1, 4, 64)
    assert model.lm_loss(hidden, torch.tensor([[-100, 3, 4, 5]])).dtype == torch.float32
    assert len(model.generate(feats, max_new_tokens=2, stop_words=[]).token_ids) == 2


def test_init_weights_keeps_weights_and_init_cfg_loads_a_checkpoint(tmp_path):
    lora = dict(r=4, lora_alpha=8, target_modules=['q_proj', 'v_proj'])
    for kwargs in (dict(tokenizer=tiny_tokenizer(with_model_specials=False)), dict(llm_lora=lora)):
        model = build_tiny_backbone(**kwargs)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        model.init_weights()
        assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    # A converted checkpoint (prefix names as released) is loaded through init_cfg.
    source = build_tiny_backbone(seed=1)
    torch.save(source.state_dict(), tmp_path / 'backbone.pth')
    model = build_tiny_backbone(seed=2, init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'backbone.pth')))
    model.init_weights()
    for k, v in model.state_dict().items():
        assert torch.equal(v, source.state_dict()[k]), k
