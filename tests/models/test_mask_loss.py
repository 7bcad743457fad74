"""Point sampling and the BCE / Dice mask losses against direct computations."""
import math

import pytest
import torch
import torch.nn.functional as F

from sama_mm.models.losses.mask_loss import (dice_loss, pixel_centre_coords, point_sample,
                                             point_sampled_mask_losses, sample_uncertain_points,
                                             sigmoid_bce_loss, uncertainty_from_logits)


def test_point_sample_at_pixel_centres_is_an_index():
    torch.manual_seed(0)
    maps = torch.randn(2, 3, 5, 7)
    rows = torch.tensor([[0, 4, 2, 3], [1, 0, 4, 2]])
    cols = torch.tensor([[0, 6, 3, 1], [5, 2, 0, 6]])
    coords = torch.stack([(cols + 0.5) / 7, (rows + 0.5) / 5], dim=-1)  # (x, y)
    out = point_sample(maps, coords)
    assert out.shape == (2, 3, 4)
    for n in range(2):
        torch.testing.assert_close(out[n], maps[n][:, rows[n], cols[n]], rtol=0, atol=1e-6)


def test_point_sample_interpolates_bilinearly_between_centres():
    maps = torch.tensor([[[[0.0, 2.0], [4.0, 6.0]]]])
    # Half-way between the four pixel centres (the image centre).
    assert point_sample(maps, torch.tensor([[[0.5, 0.5]]])).item() == pytest.approx(3.0)
    # Half-way between the top two centres.
    assert point_sample(maps, torch.tensor([[[0.5, 0.25]]])).item() == pytest.approx(1.0)


def test_pixel_centre_coords_are_row_major():
    coords = pixel_centre_coords(2, 3)
    assert coords.shape == (6, 2)
    torch.testing.assert_close(coords[1], torch.tensor([1.5 / 3, 0.5 / 2]))
    torch.testing.assert_close(coords[3], torch.tensor([0.5 / 3, 1.5 / 2]))


def test_uncertain_points_pick_the_decision_boundary():
    # Logits are large everywhere except a narrow vertical band at x in [0.45, 0.55].
    width = 200
    xs = (torch.arange(width) + 0.5) / width
    row = torch.where((xs - 0.5).abs() < 0.05, torch.zeros(width), 50.0 * torch.sign(xs - 0.5))
    logits = row.expand(1, 1, 20, width).clone()
    gen = torch.Generator().manual_seed(0)
    pts = sample_uncertain_points(logits, num_points=40, oversample_ratio=10.0, importance_sample_ratio=0.5,
                                  generator=gen)
    assert pts.shape == (1, 40, 2)
    assert pts.min() >= 0 and pts.max() <= 1
    uncertain = pts[0, :20, 0]  # the importance-sampled points come first
    assert ((uncertain - 0.5).abs() < 0.06).all()
    assert not pts.requires_grad


def test_uncertain_points_are_reproducible_with_a_generator():
    logits = torch.randn(3, 1, 8, 8)
    a = sample_uncertain_points(logits, 16, generator=torch.Generator().manual_seed(1))
    b = sample_uncertain_points(logits, 16, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert sample_uncertain_points(logits, 16, importance_sample_ratio=0.0).shape == (3, 16, 2)
    with pytest.raises(ValueError):
        sample_uncertain_points(logits, 16, oversample_ratio=0.5)


def test_uncertainty_is_minus_abs():
    torch.testing.assert_close(uncertainty_from_logits(torch.tensor([-2.0, 0.5])), torch.tensor([-2.0, -0.5]))


def test_bce_and_dice_by_hand():
    logits = torch.tensor([[0.0, 2.0], [-1.0, 1.0]])
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    bce_terms = [-math.log(sig(0.0)), -math.log(1 - sig(2.0)), -math.log(1 - sig(-1.0)), -math.log(sig(1.0))]
    assert sigmoid_bce_loss(logits, targets).item() == pytest.approx(sum(bce_terms) / 4, rel=1e-6)
    d0 = 1 - (2 * sig(0.0) * 1 + 1) / (sig(0.0) + sig(2.0) + 1 + 1)
    d1 = 1 - (2 * sig(1.0) + 1) / (sig(-1.0) + sig(1.0) + 1 + 1)
    assert dice_loss(logits, targets).item() == pytest.approx((d0 + d1) / 2, rel=1e-6)


def test_point_losses_at_every_pixel_centre_equal_the_dense_losses():
    torch.manual_seed(0)
    logits = torch.randn(3, 6, 5) * 3
    gt = (torch.rand(3, 6, 5) > 0.5).float()
    bce, dice = point_sampled_mask_losses(logits, gt, point_coords=pixel_centre_coords(6, 5))
    dense_bce = F.binary_cross_entropy_with_logits(logits, gt)
    probs = logits.sigmoid().flatten(1)
    dense_dice = (1 - (2 * (probs * gt.flatten(1)).sum(1) + 1) / (probs.sum(1) + gt.flatten(1).sum(1) + 1)).mean()
    torch.testing.assert_close(bce, dense_bce, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(dice, dense_dice, rtol=1e-5, atol=1e-6)


def test_sampled_losses_have_gradients_and_handle_no_masks():
    logits = torch.randn(2, 16, 16, requires_grad=True)
    gt = torch.zeros(2, 16, 16)
    gt[:, 4:12, 4:12] = 1
    bce, dice = point_sampled_mask_losses(logits, gt, num_points=64)
    (bce + dice).backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    empty = torch.zeros(0, 16, 16, requires_grad=True)
    bce, dice = point_sampled_mask_losses(empty, torch.zeros(0, 16, 16), num_points=64)
    assert bce.item() == 0 and dice.item() == 0 and bce.requires_grad
    with pytest.raises(ValueError):
        point_sampled_mask_losses(logits, gt[:, :8], num_points=8)
