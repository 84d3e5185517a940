"""netgrad.ops.ctc_loss against torch's F.ctc_loss, and its conventions: impossible alignments
(+inf with gradient 0, or 0 with zero_infinity), empty targets, probabilities 0 off the path."""

import math

import pytest
import torch
import torch.nn.functional as F

from netgrad import ops
from netgrad.ops import _ctc


@pytest.fixture(autouse=True)
def _seed_every_test():
    """Each test draws from the global RNG in a fixed state (gradgradcheck's output gradients
    too), whatever ran before it on the same worker."""
    torch.manual_seed(0)


D = torch.float64
C = 5          # classes 0..3 are labels, 4 the blank
BLANK = C - 1


def _data(seed=0):
    g = torch.Generator().manual_seed(seed)
    lp = torch.randn(4, 6, C, generator=g, dtype=D).log_softmax(-1)
    targets = torch.tensor([[1, 2, 0, 0], [1, 1, 3, 0], [0, 0, 0, 0], [2, 2, 0, 1]])
    return lp, targets, torch.tensor([6, 6, 3, 5]), torch.tensor([2, 3, 0, 4])


def _loss_and_grad(fn, lp, *args, **kw):
    leaf = lp.detach().clone().requires_grad_()
    loss = fn(leaf, *args, **kw)
    (g,) = torch.autograd.grad(loss.sum(), leaf)
    return loss.detach(), g


def test_values_equal_torch_and_gradients_equal_torch_behind_a_log_softmax():
    lp, tg, il, tl = _data()
    ours = _loss_and_grad(lambda x, *a, **k: ops.ctc_loss(x.log_softmax(-1), *a, **k),
                          lp, tg, il, tl, blank=BLANK)
    ref = _loss_and_grad(lambda x, *a: F.ctc_loss(x.log_softmax(-1).transpose(0, 1), *a,
                                                  blank=BLANK, reduction="none"), lp, tg, il, tl)
    torch.testing.assert_close(ours[0], ref[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours[1], ref[1], rtol=1e-10, atol=1e-12)


def test_the_gradient_is_the_true_derivative_where_torch_adds_exp_log_probs():
    """torch's CTC gradient is only right behind a log_softmax; netgrad's is the derivative."""
    lp, tg, il, tl = _data()
    ours = _loss_and_grad(ops.ctc_loss, lp, tg, il, tl, blank=BLANK)
    ref = _loss_and_grad(lambda x, *a: F.ctc_loss(x.transpose(0, 1), *a, blank=BLANK,
                                                  reduction="none"), lp, tg, il, tl)
    valid = (torch.arange(6)[None, :] < il[:, None])[..., None]
    torch.testing.assert_close(ours[1], ref[1] - lp.exp() * valid, rtol=1e-9, atol=1e-12)
    small = (lp[:2, :4].clone().requires_grad_(),)
    assert torch.autograd.gradcheck(lambda x: ops.ctc_loss(x, tg[:2, :2], torch.tensor([4, 3]),
                                                           torch.tensor([2, 1]), blank=BLANK), small)


def test_the_composition_equals_the_fused_kernel():
    lp, tg, il, tl = _data()
    fused = _loss_and_grad(ops.ctc_loss, lp, tg, il, tl, blank=BLANK)
    careful = _loss_and_grad(lambda *a: _ctc._careful(*a, BLANK, False)[0], lp, tg, il, tl)
    for a, b in zip(fused, careful):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_an_empty_target_is_the_all_blank_alignment():
    lp, tg, il, tl = _data()
    loss = ops.ctc_loss(lp, tg, il, tl, blank=BLANK)
    torch.testing.assert_close(loss[2], -lp[2, :3, BLANK].sum(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("zero_infinity", [False, True])
def test_an_impossible_alignment_has_a_clear_value_and_gradient_zero(zero_infinity):
    lp, tg, il, tl = _data()
    il = torch.tensor([6, 3, 3, 5])           # sequence 1 needs 3 steps for its labels: ok;
    tg = tg.clone()
    tg[1] = torch.tensor([1, 1, 1, 0])        # now it needs 5 (a blank between the repeats)
    loss, g = _loss_and_grad(ops.ctc_loss, lp, tg, il, tl, blank=BLANK,
                             zero_infinity=zero_infinity)
    assert loss[1] == (0.0 if zero_infinity else math.inf)
    assert torch.equal(g[1], torch.zeros_like(g[1]))
    assert torch.isfinite(g).all()
    others = _loss_and_grad(ops.ctc_loss, lp, tg, torch.tensor([6, 6, 3, 5]), tl, blank=BLANK)
    torch.testing.assert_close(loss[[0, 2, 3]], others[0][[0, 2, 3]], rtol=1e-12, atol=0)


def test_a_probability_zero_off_every_needed_path_gets_gradient_zero_not_nan():
    lp, tg, il, tl = _data()
    lp = lp.clone()
    lp[0, :, 3] = -math.inf                    # class 3 never appears in target 0
    torch_loss = _loss_and_grad(lambda x, *a: F.ctc_loss(x.transpose(0, 1), *a, blank=BLANK,
                                                         reduction="none", zero_infinity=True),
                                lp, tg, il, tl)
    assert torch.isnan(torch_loss[1][0]).any()  # what torch gives
    loss, g = _loss_and_grad(ops.ctc_loss, lp, tg, il, tl, blank=BLANK)
    assert torch.isfinite(loss).all() and torch.isfinite(g).all()
    assert torch.equal(g[0, :, 3], torch.zeros(6, dtype=D))
    clean = _loss_and_grad(ops.ctc_loss, _data()[0], tg, il, tl, blank=BLANK)
    torch.testing.assert_close(loss[1:], clean[0][1:], rtol=1e-12, atol=0)


def test_gradcheck_and_gradgradcheck():
    lp, tg, il, tl = _data()
    lp = lp[:2, :4].clone().requires_grad_()
    f = lambda x: ops.ctc_loss(x, tg[:2, :2], torch.tensor([4, 3]), torch.tensor([2, 1]),  # noqa: E731
                               blank=BLANK)
    assert torch.autograd.gradcheck(f, (lp,))
    assert torch.autograd.gradgradcheck(f, (lp,))
