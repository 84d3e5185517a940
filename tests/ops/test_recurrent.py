"""netgrad.ops.lstm / gru / rnn_tanh against torch's nn.LSTM / nn.GRU / nn.RNN, on batches of
mixed lengths: equal to running each sequence alone, exact zeros past each end."""

import math

import pytest
import torch

from netgrad import ops
from netgrad.ops import _recurrent


@pytest.fixture(autouse=True)
def _seed_every_test():
    """Each test draws from the global RNG in a fixed state (gradgradcheck's output gradients
    too), whatever ran before it on the same worker."""
    torch.manual_seed(0)


D = torch.float64
KINDS = {"lstm": (torch.nn.LSTM, ops.lstm, 2), "gru": (torch.nn.GRU, ops.gru, 1),
         "rnn_tanh": (torch.nn.RNN, ops.rnn_tanh, 1)}


def _setup(kind, b=3, t=5, k=4, n=3, seed=0):
    torch.manual_seed(seed)
    module = KINDS[kind][0](k, n, batch_first=True).to(D)
    weights = [module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0, module.bias_hh_l0]
    x = torch.randn(b, t, k, dtype=D)
    return module, [w.detach().clone() for w in weights], x


def _states(kind, b, n, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(b, n, generator=g, dtype=D) for _ in range(KINDS[kind][2])]


def _call(kind, x, weights, lengths, states):
    fn = KINDS[kind][1]
    kw = {"state": states[0]}
    if kind == "lstm":
        kw["cell_state"] = states[1]
    return fn(x, *weights, lengths=lengths, **kw)


@pytest.mark.parametrize("kind", KINDS)
def test_mixed_lengths_equal_each_sequence_alone(kind):
    module, weights, x = _setup(kind)
    lengths = torch.tensor([5, 2, 3])
    states = _states(kind, 3, 3)
    out = _call(kind, x, weights, lengths, states)
    for b, n in enumerate(lengths.tolist()):
        hx = tuple(s[b:b + 1, None].transpose(0, 1) for s in states)
        ref_out, ref_h = module(x[b:b + 1, :n], hx if kind == "lstm" else hx[0])
        ref_h = ref_h if kind == "lstm" else (ref_h,)
        torch.testing.assert_close(out[0][b, :n], ref_out[0], rtol=1e-12, atol=1e-13)
        assert torch.equal(out[0][b, n:], torch.zeros_like(out[0][b, n:]))
        for mine, theirs in zip(out[1:], ref_h):
            torch.testing.assert_close(mine[b], theirs[0, 0], rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_equal_torch_and_padding_gets_exact_zeros(kind):
    module, weights, x = _setup(kind)
    lengths = torch.tensor([5, 2, 3])
    leaves = [x.clone().requires_grad_()] + [w.clone().requires_grad_() for w in weights]
    out = _call(kind, leaves[0], leaves[1:], lengths, _states(kind, 3, 3))
    (out[0].sum() + out[1].sum()).backward()
    gx = leaves[0].grad
    assert torch.equal(gx[1, 2:], torch.zeros_like(gx[1, 2:]))
    assert torch.equal(gx[2, 3:], torch.zeros_like(gx[2, 3:]))
    # the same gradients as torch on each sequence alone (summed for the weights)
    ref_w = [torch.zeros_like(w) for w in weights]
    states = _states(kind, 3, 3)
    for b, n in enumerate(lengths.tolist()):
        xb = x[b:b + 1, :n].clone().requires_grad_()
        hx = tuple(s[b:b + 1, None].transpose(0, 1) for s in states)
        module.zero_grad()
        o, h = module(xb, hx if kind == "lstm" else hx[0])
        (o.sum() + (h[0] if kind == "lstm" else h).sum()).backward()
        torch.testing.assert_close(gx[b, :n], xb.grad[0], rtol=1e-11, atol=1e-12)
        for acc, p in zip(ref_w, [module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0,
                                  module.bias_hh_l0]):
            acc += p.grad
    for mine, theirs in zip(leaves[1:], ref_w):
        torch.testing.assert_close(mine.grad, theirs, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_the_composition_equals_the_fused_kernel(kind):
    _, weights, x = _setup(kind)
    lengths = torch.tensor([5, 2, 3])
    states = _states(kind, 3, 3)

    def grads(fn):
        leaves = [x.clone().requires_grad_()] + [w.clone().requires_grad_() for w in weights]
        out = fn(leaves)
        return out, torch.autograd.grad(sum(o.sum() for o in out), leaves)

    fused = grads(lambda ls: _call(kind, ls[0], ls[1:], lengths, states))
    composed = grads(lambda ls: _recurrent._run(kind, ls[0], lengths, states, *ls[1:]))
    for a, b in zip(fused[0] + fused[1], composed[0] + composed[1]):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_gradcheck_and_gradgradcheck(kind):
    _, weights, x = _setup(kind, b=2, t=3, k=2, n=2)
    lengths = torch.tensor([3, 1])
    leaves = [x.requires_grad_()] + [w.requires_grad_() for w in weights[:2]]

    def f(x, w_ih, w_hh):
        out = _call(kind, x, [w_ih, w_hh] + weights[2:], lengths, _states(kind, 2, 2))
        return out[0].sum(-1) + out[1].sum(-1, keepdim=True)

    assert torch.autograd.gradcheck(f, leaves)
    assert torch.autograd.gradgradcheck(f, leaves)


@pytest.mark.parametrize("kind", KINDS)
def test_an_empty_sequence_keeps_its_initial_state(kind):
    _, weights, x = _setup(kind)
    lengths = torch.tensor([5, 0, 3])
    states = _states(kind, 3, 3)
    leaves = [x.clone().requires_grad_()] + [w.clone().requires_grad_() for w in weights]
    out = _call(kind, leaves[0], leaves[1:], lengths, states)
    assert torch.equal(out[0][1], torch.zeros(5, 3, dtype=D))
    for mine, initial in zip(out[1:], states):
        assert torch.equal(mine[1], initial[1])
    grads = torch.autograd.grad(sum(o.sum() for o in out), leaves)
    assert torch.equal(grads[0][1], torch.zeros(5, 4, dtype=D))
    assert all(torch.isfinite(g).all() for g in grads)


def test_an_input_that_is_zero_gets_weights_gradient_zero_under_an_infinite_cotangent():
    """0 · inf in the weight gradient is a strong zero (the fused kernel gives NaN there)."""
    _, weights, x = _setup("lstm", b=1, t=1)
    x = x.clone()
    x[..., 0] = 0.0
    w_ih = weights[0].clone().requires_grad_()
    out, h, c = ops.lstm(x, w_ih, *weights[1:])
    g = torch.full_like(out, math.inf)
    (gw,) = torch.autograd.grad(out, w_ih, g)
    assert torch.equal(gw[:, 0], torch.zeros(12, dtype=D))


def test_dropout_masks_take_the_composition():
    _, weights, x = _setup("gru")
    keep = torch.ones(3, 3, dtype=D)
    keep[:, 1] = 0.0
    a = ops.gru(x, *weights, state_keep=keep)
    w_hh = weights[1].clone()
    w_hh[:, 1] = 0.0                                      # the same as dropping state entry 1
    b = ops.gru(x, weights[0], w_hh, *weights[2:])
    # entry 1 of the state still updates itself (z ⊙ h), only its use through W_hh is dropped
    torch.testing.assert_close(a[0], b[0], rtol=1e-12, atol=1e-13)


def test_lengths_are_checked():
    _, weights, x = _setup("lstm")
    with pytest.raises(ValueError, match=r"lengths lie in \[0, 5\]"):
        ops.lstm(x, *weights, lengths=torch.tensor([6, 1, 1]))
    with pytest.raises(ValueError, match="one per sequence"):
        ops.lstm(x, *weights, lengths=torch.tensor([1, 1]))
