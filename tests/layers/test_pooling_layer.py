"""PoolingLayer: shapes, functions, the learned "Power" array, config, errors, and the three
failure stories of learned-norm pooling (each also shown to break the naive formula)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import netgrad
from netgrad import ops
from netgrad.layers._convolution import ConvolutionLayer
from netgrad.layers._pooling import PoolingLayer

F64 = torch.float64


# ---- basics --------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, kernel, out", [((3, 10), 3, (3, 8)), ((3, 8, 9), (2, 3), (3, 7, 7)),
                                                ((2, 4, 5, 6), 2, (2, 3, 4, 5))])
def test_shapes_default_stride_one_as_in_wolfram(shape, kernel, out):
    layer = PoolingLayer(kernel, input=shape)
    assert layer.port_shape("Output") == out
    assert layer.forward(torch.randn((2,) + shape)).shape == (2,) + out


def test_functions_match_the_ops_and_pytorch():
    x = torch.randn(2, 3, 8, 8, dtype=F64)
    kw = dict(stride=2, padding=1)
    assert torch.equal(PoolingLayer(3, function="Max", **kw).forward(x), F.max_pool2d(x, 3, 2, 1))
    torch.testing.assert_close(PoolingLayer(3, function="Mean", **kw).forward(x),
                               F.avg_pool2d(x, 3, 2, 1, count_include_pad=False))
    torch.testing.assert_close(PoolingLayer(3, function="Total", **kw).forward(x),
                               F.avg_pool2d(x, 3, 2, 1, divisor_override=1))
    lp = PoolingLayer(3, function="LP", **kw).double()
    torch.testing.assert_close(lp.forward(x), ops.lp_pool2d(x, 3.0, 3, 2, padding=1))
    pm = PoolingLayer(3, function="PowerMean", power=2.0, **kw).double()
    torch.testing.assert_close(pm.forward(x), ops.power_mean_pool2d(x, 2.0, 3, 2, padding=1))


def test_power_starts_at_3_above_a_smooth_floor_and_is_learned():
    layer = PoolingLayer(2, 2, "PowerMean", power_per_channel=True, input=(4, 6, 6))
    assert layer.Power.shape == (4,) and not layer.uninitialized_arrays()
    torch.testing.assert_close(layer.effective_power(), torch.full((4,), 3.0))
    y = layer.forward(torch.rand(2, 4, 6, 6))
    (g,) = torch.autograd.grad(y.sum(), layer.Power)
    assert g.shape == (4,) and torch.isfinite(g).all() and (g != 0).all()
    with torch.no_grad():
        layer.Power.fill_(-1e4)  # far below: p is the floor, never below
    assert torch.all(layer.effective_power() == 1.0)
    fixed = PoolingLayer(2, 2, "LP", learn_power=False, power_floor=None, power=2.0)
    assert fixed.Power.shape == () and fixed.Power.item() == 2.0
    x = torch.randn(1, 2, 4, 4, requires_grad=True)
    fixed.forward(x).sum().backward()
    assert fixed.Power.grad is None and x.grad is not None


def test_reinitialize_restores_power_and_max_has_no_arrays():
    layer = PoolingLayer(2, function="LP", power=5.0)
    with torch.no_grad():
        layer.Power.fill_(0.0)
    layer.initialize_arrays("Kaiming", torch.Generator(), reinitialize=True)
    assert layer.effective_power().item() == pytest.approx(5.0)
    assert list(PoolingLayer(2).parameters()) == []


@pytest.mark.parametrize("layer", [
    PoolingLayer(2), PoolingLayer((2, 3), (1, 2), "Mean", (1, 1), input=(3, 5, 6)),
    PoolingLayer(3, 2, "LP", 1, power=4.0, power_per_channel=True, power_floor=None, input=(2, 9)),
    PoolingLayer(2, 2, "PowerMean", learn_power=False, power_floor=0.0),
])
def test_config_round_trips_through_json(layer):
    cfg = json.loads(json.dumps(layer.get_config()))
    again = PoolingLayer.from_config(cfg)
    assert again.get_config() == layer.get_config()
    assert [n for n, _ in again.named_parameters()] == [n for n, _ in layer.named_parameters()]


def test_wolfram_style_evaluation_on_one_example():
    layer = PoolingLayer(2, 2, "Max", input=(1, 4))
    out = layer(np.array([[1.0, 3.0, -2.0, 0.5]]))
    assert isinstance(out, np.ndarray) and out.tolist() == [[3.0, 0.5]]


def test_errors_say_where_what_and_how_to_fix():
    with pytest.raises(netgrad.NetValueError, match="did you mean 'Mean'"):
        PoolingLayer(2, function="average")
    with pytest.raises(netgrad.ShapeError, match=r'PoolingLayer, port "Input".*kernel'):
        PoolingLayer(5, input=(3, 4, 4))
    with pytest.raises(netgrad.ShapeError, match="channel dimension comes first"):
        PoolingLayer((2, 2), input=(8,))
    with pytest.raises(netgrad.NetValueError, match="power above the floor"):
        PoolingLayer(2, function="LP", power=0.5, power_floor=1.0)
    with pytest.raises(netgrad.NetValueError, match="1, 2 or 3 spatial"):
        PoolingLayer((2, 2), (1, 1, 1))
    with pytest.raises(netgrad.NetValueError, match="per-channel Power"):
        PoolingLayer(2, function="LP", power_per_channel=True).forward(torch.randn(1, 2, 4))


# ---- the failure stories -------------------------------------------------------------------------
def _naive_lp(x, p, k):
    return (F.avg_pool2d(x.abs() ** p.reshape(1, -1, 1, 1), k) * k * k) ** (1 / p.reshape(1, -1, 1, 1))


def _net(scale: float, dtype, function="LP", seed=0):
    torch.manual_seed(seed)
    conv = ConvolutionLayer(4, 3, padding=1, input=(2, 8, 8)).to(dtype)
    pool = PoolingLayer(2, 2, function, power_per_channel=True, input=(4, 8, 8)).to(dtype)
    with torch.no_grad():
        conv.Weights.copy_(torch.randn(conv.Weights.shape, dtype=F64).to(dtype) * scale)
        conv.Biases.zero_()
    return conv, pool


def _grads(conv, pool, x):
    y = pool.forward(torch.relu(conv.forward(x)))
    loss = (y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).reshape(y.shape)).sum()
    return y, torch.autograd.grad(loss, [conv.Weights, conv.Biases, pool.Power])


@pytest.mark.parametrize("function", ["LP", "PowerMean"])
def test_story_1_tiny_learned_weights_before_the_pooling(function):
    # Conv weights ~1e-20 (a learned norm scale initialized tiny): activations ~1e-20, their
    # cubes ~1e-60 underflow float32. ReLU makes whole windows exactly zero.
    x = torch.randn(3, 2, 8, 8, generator=torch.Generator().manual_seed(1))
    out = {}
    for dtype in (torch.float32, F64):
        conv, pool = _net(1e-20, dtype, function)
        out[dtype] = _grads(conv, pool, x.to(dtype))
    (y32, g32), (y64, g64) = out[torch.float32], out[F64]
    assert (y64 == 0).any() and (y64 > 0).any()  # some all-zero windows, some not
    torch.testing.assert_close(y32.double(), y64, rtol=1e-4, atol=0)
    for a, b in zip(g32, g64):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a.double(), b, rtol=1e-3, atol=1e-3 * b.abs().max().item())
    # The naive formula on the same activations: underflow to 0, then NaN gradients.
    conv, pool = _net(1e-20, torch.float32, function)
    a = torch.relu(conv.forward(x))
    yn = _naive_lp(a, pool.effective_power(), 2)
    gn = torch.autograd.grad(yn.sum(), conv.Weights)[0]
    assert not torch.isfinite(gn).all()


@pytest.mark.parametrize("p, scale", [(100.0, 1.0), (30.0, 1e3), (8.0, 1e30)])
def test_story_2_learned_values_driven_to_extremes(p, scale):
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(2), dtype=F64) * scale
    res = {}
    for dtype in (torch.float32, F64):
        pool = PoolingLayer(2, 2, "LP", power=p, power_per_channel=True, power_floor=None,
                            input=(3, 8, 8)).to(dtype)
        xd = x.to(dtype).requires_grad_()
        y = pool.forward(xd)
        res[dtype] = (y, *torch.autograd.grad(y.sum(), (xd, pool.Power)))
    for a, b in zip(res[torch.float32], res[F64]):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a.double(), b.detach(), rtol=1e-4, atol=1e-6 * b.abs().max().item())
    xn = x.float().requires_grad_()
    pn = torch.full((3,), p, requires_grad=True)
    yn = _naive_lp(xn, pn, 2)
    assert not torch.isfinite(yn).all() or not torch.isfinite(
        torch.autograd.grad(yn.sum(), pn)[0]).all()  # the naive formula overflows


def _train(model_params, step, steps, lr=0.05):
    opt = torch.optim.Adam(model_params, lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = step()
        loss.backward()
        for prm in model_params:
            assert torch.isfinite(prm.grad).all(), "non-finite gradient (no clipping is used)"
        opt.step()
        losses.append(loss.item())
    return losses


def test_story_3a_training_from_tiny_weights_learns_without_nan():
    torch.manual_seed(3)
    conv, pool = _net(1e-20, torch.float32, "LP")
    head = torch.nn.Linear(4 * 4 * 4, 1)
    x = torch.randn(16, 2, 8, 8)
    target = x.abs().amax((1, 2, 3)).unsqueeze(1)

    def step():
        h = pool.forward(torch.relu(conv.forward(x)))
        return F.mse_loss(head(h.flatten(1)), target)

    params = [conv.Weights, conv.Biases, pool.Power, *head.parameters()]
    losses = _train(params, step, 300)
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.5 * losses[0]


def test_story_3b_p_driven_large_on_large_inputs_stays_finite():
    torch.manual_seed(4)
    pool = PoolingLayer(2, 2, "LP", power=20.0, power_per_channel=True, input=(3, 8, 8))
    x = torch.randn(8, 3, 8, 8) * 1e3
    target = F.max_pool2d(x.abs(), 2)  # the max: p has to grow without bound

    def step():
        return ((pool.forward(x) - target) / 1e3).pow(2).mean()

    opt = torch.optim.Adam([pool.Power], lr=2.0)  # aggressive on purpose, no clipping
    for _ in range(300):
        opt.zero_grad()
        loss = step()
        loss.backward()
        assert torch.isfinite(pool.Power.grad).all() and math.isfinite(loss.item())
        opt.step()
    assert (pool.effective_power() > 60).all()  # (|x|/m)^p: 0.9^60 ≈ 2e-3


def test_story_3c_power_mean_driven_towards_zero_reaches_the_geometric_mean():
    torch.manual_seed(5)
    pool = PoolingLayer(2, 2, "PowerMean", power=3.0, power_floor=0.0, input=(2, 8, 8))
    x = torch.rand(8, 2, 8, 8) + 0.05
    x[0, 0, :2, :2] = 0.0  # an all-zero window
    x[1, 1, 0, 0] = 0.0  # a window with one zero: its geometric mean is 0
    w = x.reshape(8, 2, 4, 2, 4, 2)
    target = torch.exp(torch.log(w).mean((3, 5)))  # geometric means (0 where a zero)

    def step():
        return (pool.forward(x) - target).pow(2).mean()

    losses = _train([pool.Power], step, 300, lr=0.2)
    assert all(math.isfinite(v) for v in losses)
    assert pool.effective_power().item() < 0.05 and losses[-1] < 1e-3 * losses[0]
