"""Labelled-only LM loss: equals the full-logit CE, and the head only sees labelled rows."""
import torch

from sama_mm.models.losses.lm_loss import lm_loss, naive_lm_loss


def _data(seed=0, batch=3, length=11, hidden=16, vocab=37):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(batch, length, hidden, generator=g, requires_grad=True)
    labels = torch.randint(0, vocab, (batch, length), generator=g)
    labels[torch.rand(batch, length, generator=g) < 0.5] = -100
    labels[1] = -100  # a sample without any label
    labels[0, 1], labels[2, -1] = 5, 7  # labels at the first and last predicted positions
    head = torch.nn.Linear(hidden, vocab, bias=False)
    return h, labels, head


def test_equals_naive_full_logits_ce_and_gradients():
    h, labels, head = _data()
    loss = lm_loss(h, labels, head)
    grad = torch.autograd.grad(loss, [h, head.weight])
    ref = naive_lm_loss(head(h), labels)
    ref_grad = torch.autograd.grad(ref, [h, head.weight])
    assert torch.allclose(loss, ref, atol=1e-6)
    for a, b in zip(grad, ref_grad):
        assert torch.allclose(a, b, atol=1e-6)


def test_head_runs_only_on_labelled_rows():
    h, labels, head = _data(seed=1)
    rows = []
    head.register_forward_hook(lambda m, inp, out: rows.append(inp[0].shape[0]))
    lm_loss(h, labels, head)
    assert rows == [int((labels[:, 1:] != -100).sum())]
    assert rows[0] < h.shape[0] * h.shape[1]


def test_chunked_head_gives_the_same_loss_and_grads():
    h, labels, head = _data(seed=2, length=30)
    rows = []
    handle = head.register_forward_hook(lambda m, inp, out: rows.append(inp[0].shape[0]))
    loss = lm_loss(h, labels, head, chunk_size=4)
    grad = torch.autograd.grad(loss, [h, head.weight])
    handle.remove()
    assert max(rows) <= 4
    ref = lm_loss(h, labels, head)
    ref_grad = torch.autograd.grad(ref, [h, head.weight])
    assert torch.allclose(loss, ref, atol=1e-6)
    for a, b in zip(grad, ref_grad):
        assert torch.allclose(a, b, atol=1e-6)


def test_no_label_gives_a_differentiable_zero():
    h, labels, head = _data()
    loss = lm_loss(h, torch.full_like(labels, -100), head)
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
