"""Differentiable NetPortGradient: results carry their graph (to any order) for inputs, arrays
and imposed output gradients; checked against torch.autograd on the same model at regular
points, and against the gradient contract where torch gives NaN."""

from __future__ import annotations

import math

import pytest
import torch

from netgrad import (AggregationLayer, ElementwiseLayer, LinearLayer, NetChain, NetInitialize,
                     NetPortGradient)

F64 = torch.float64


def _mlp(seed=0, act="Tanh", torch_act=torch.nn.Tanh):
    net = NetInitialize(NetChain({"lin1": LinearLayer(6), "act": act, "lin2": LinearLayer(2)},
                                 input=3), seed=seed)
    ref = torch.nn.Sequential(torch.nn.Linear(3, 6), torch_act(), torch.nn.Linear(6, 2)).double()
    with torch.no_grad():
        ref[0].weight.copy_(net["lin1"].Weights)
        ref[0].bias.copy_(net["lin1"].Biases)
        ref[2].weight.copy_(net["lin2"].Weights)
        ref[2].bias.copy_(net["lin2"].Biases)
    return net, ref


def _x(n=4, seed=1):
    return torch.randn(n, 3, generator=torch.Generator().manual_seed(seed), dtype=F64)


def test_input_gradient_carries_its_graph_to_third_order():
    net, ref = _mlp()
    x = _x().requires_grad_(True)
    g = net(x, NetPortGradient("Input"), precision="float64")
    assert g.requires_grad and g.shape == x.shape
    xr = x.detach().clone().requires_grad_(True)
    (gr,) = torch.autograd.grad(ref(xr).sum(), xr, create_graph=True)
    torch.testing.assert_close(g, gr, rtol=1e-12, atol=1e-14)
    w = torch.randn(4, 3, dtype=F64, generator=torch.Generator().manual_seed(2))
    (h,) = torch.autograd.grad((g * w).sum(), x, create_graph=True)
    (hr,) = torch.autograd.grad((gr * w).sum(), xr, create_graph=True)
    torch.testing.assert_close(h, hr, rtol=1e-12, atol=1e-14)
    (t,) = torch.autograd.grad((h * w).sum(), x)
    (tr,) = torch.autograd.grad((hr * w).sum(), xr)
    torch.testing.assert_close(t, tr, rtol=1e-11, atol=1e-13)


def test_without_grad_nothing_changes():
    net, _ = _mlp()
    x = _x()
    g = net(x, NetPortGradient("Input"), precision="float64")
    assert not g.requires_grad
    g2 = net(x.requires_grad_(True), NetPortGradient("Input"), precision="float64",
             create_graph=False)
    assert not g2.requires_grad
    torch.testing.assert_close(g, g2, rtol=0, atol=0)


def test_array_gradient_with_create_graph_reaches_every_array():
    """A gradient penalty on a weight gradient: d/dθ ‖∂L/∂W₁‖², against torch."""
    net, ref = _mlp()
    x = _x()
    gw = net(x, NetPortGradient(("lin1", "Weights")), precision="float64", create_graph=True)
    penalty = gw.pow(2).sum()
    got = torch.autograd.grad(penalty, [net["lin1"].Weights, net["lin2"].Weights])
    (gr,) = torch.autograd.grad(ref(x).sum(), ref[0].weight, create_graph=True)
    want = torch.autograd.grad(gr.pow(2).sum(), [ref[0].weight, ref[2].weight])
    for a, b in zip(got, want):
        assert a.dtype == torch.float32  # back to the arrays' own precision
        torch.testing.assert_close(a.double(), b, rtol=1e-5, atol=1e-6)


def test_imposed_output_gradient_that_requires_grad():
    """A vector-Jacobian product vᵀJ is linear in v: its derivative in v is J w."""
    net, ref = _mlp()
    x = _x()
    v = torch.randn(4, 2, dtype=F64, requires_grad=True)
    vjp = net({"Input": x, NetPortGradient("Output"): v}, NetPortGradient("Input"),
              precision="float64")
    assert vjp.requires_grad
    w = torch.randn(4, 3, dtype=F64)
    (dv,) = torch.autograd.grad((vjp * w).sum(), v)
    xr = x.clone().requires_grad_(True)
    _, jw = torch.autograd.functional.jvp(ref, xr, w)
    torch.testing.assert_close(dv, jw, rtol=1e-12, atol=1e-14)


def test_batched_as_today():
    net, _ = _mlp()
    x = _x(5).requires_grad_(True)
    out = net(x, [NetPortGradient("Input"), NetPortGradient(("lin2", "Biases"))],
              precision="float64")
    gx, gb = out[NetPortGradient("Input")], out[NetPortGradient(("lin2", "Biases"))]
    assert gx.shape == (5, 3) and gb.shape == (2,) and gx.requires_grad
    one = net(x[0], NetPortGradient("Input"), precision="float64")  # one example: no batch
    assert one.shape == (3,) and one.requires_grad
    torch.testing.assert_close(one, gx[0], rtol=1e-14, atol=0)


def test_relu_net_second_derivative_is_zero_not_nan():
    """The Hessian of a Ramp net is 0 almost everywhere, also at a kink (contract rule 4)."""
    net, ref = _mlp(act="Ramp", torch_act=torch.nn.ReLU)
    x = torch.zeros(2, 3, dtype=F64, requires_grad=True)  # pre-activations = biases
    with torch.no_grad():
        net["lin1"].Biases.zero_()                        # every unit exactly at its kink
    g = net(x, NetPortGradient("Input"), precision="float64")
    (h,) = torch.autograd.grad(g.sum(), x, allow_unused=True, materialize_grads=True)
    assert torch.equal(g, torch.zeros_like(g)) and torch.equal(h, torch.zeros_like(h))


def test_penalty_on_a_zero_gradient_keeps_the_contract():
    """√(Σ g²) of ∇ₓ f where ∇ₓ f = 0 (a WGAN-GP sample whose critic is flat there): the
    derivative of the square root at 0 is inf, met by the exact zero 2g; plain torch gives NaN,
    robust() gives 0, so the weights' gradient of the penalty stays finite."""
    from netgrad import robust
    critic = NetInitialize(NetChain([LinearLayer(4), "Ramp", LinearLayer(1)], input=2), seed=0)
    with torch.no_grad():
        critic["0"].Biases.fill_(-100.0)                   # every unit off: f is flat
    x = torch.randn(3, 2, dtype=F64)
    g = critic(x, NetPortGradient("Input"), precision="float64", create_graph=True)
    assert torch.equal(g, torch.zeros_like(g)) and g.requires_grad
    with robust():
        penalty = (torch.sqrt((g ** 2).sum(1)) - 1).pow(2).mean()
    grads = torch.autograd.grad(penalty, [critic["0"].Weights, critic["2"].Weights],
                                allow_unused=True, materialize_grads=True)
    assert all(bool(torch.isfinite(t).all()) for t in grads)
    gt = g.detach().requires_grad_(True)                   # plain torch on the same numbers
    (nan,) = torch.autograd.grad((torch.sqrt((gt ** 2).sum(1)) - 1).pow(2).mean(), gt)
    assert torch.isnan(nan).all()


def test_product_hessian_at_zeros():
    """The product x₀x₁x₂ at (0, 0, 3): Hessian [[0, 3, 0], [3, 0, 0], [0, 0, 0]], from
    exclusive products (the y/x rule is 0/0 there)."""
    net = NetChain([AggregationLayer("Times", 1)], input=3)
    x = torch.tensor([0.0, 0.0, 3.0], dtype=F64, requires_grad=True)
    g = net(x, NetPortGradient("Input"), precision="float64")
    h = torch.stack([torch.autograd.grad(g[i], x, retain_graph=True)[0] for i in range(3)])
    assert g.tolist() == [0.0, 0.0, 0.0]
    assert h.tolist() == [[0.0, 3.0, 0.0], [3.0, 0.0, 0.0], [0.0, 0.0, 0.0]]


def test_removable_singularity_inside_a_net_to_second_order():
    net = NetChain([ElementwiseLayer(lambda v: torch.sin(v) / v)], input=1)
    x = torch.tensor([[0.0], [1.0]], dtype=F64, requires_grad=True)
    g = net(x, NetPortGradient("Input"), precision="float64")
    (h,) = torch.autograd.grad(g.sum(), x)
    assert g[0, 0] == 0.0 and h[0, 0].item() == pytest.approx(-1 / 3, rel=1e-14)
    # (sin x / x)'' = sin x (1 - 2/x² ... ) at 1: sin 1 - 2 cos 1
    assert h[1, 0].item() == pytest.approx(math.sin(1) - 2 * math.cos(1), rel=1e-12)
