"""NetPortGradientLayer: a net's input gradient as an output port, to any order."""

from __future__ import annotations

import math
import os
import tempfile

import numpy as np
import pytest
import torch

import netgrad as ng
from netgrad import (ElementwiseLayer, LinearLayer, NetChain, NetGraph, NetInitialize, NetPort,
                     NetPortGradient, NetPortGradientLayer, ThreadingLayer)

F64 = torch.float64


def _u(seed=0):
    return NetInitialize(NetChain([LinearLayer(8), "Tanh", LinearLayer(1)], input=1), seed=seed)


def test_ports_and_shapes():
    d2u = NetPortGradientLayer(NetPortGradientLayer(_u(), "Input"), "Input", output="Gradient",
                               name="Curvature")
    assert d2u.input_names() == ("Input",)
    assert d2u.output_names() == ("Output", "Gradient", "Curvature")
    out = d2u(np.zeros((5, 1), np.float32))
    assert {k: v.shape for k, v in out.items()} == dict.fromkeys(out, (5, 1))


def test_values_against_torch_autograd_to_third_order():
    u = _u()
    d3u = NetPortGradientLayer(NetPortGradientLayer(NetPortGradientLayer(u, "Input"), "Input",
                                                    output="Gradient", name="G2"),
                               "Input", output="G2", name="G3")
    x = torch.linspace(-1, 1, 7, dtype=F64)[:, None]
    out = d3u(x, precision="float64")
    xr = x.clone().requires_grad_(True)
    y = u(xr, precision="float64")
    want = [y]
    for _ in range(3):
        (y,) = torch.autograd.grad(y.sum(), xr, create_graph=True)
        want.append(y)
    for port, w in zip(("Output", "Gradient", "G2", "G3"), want):
        torch.testing.assert_close(out[port], w.detach(), rtol=1e-12, atol=1e-14)


def test_two_inputs_and_the_gradient_of_a_chosen_port():
    inner = NetGraph({"f": ThreadingLayer(lambda a, b: a * a * b)}, [], Input1=2, Input2=2)
    layer = NetPortGradientLayer(inner, "Input2", name="dB")
    a = torch.tensor([[1.0, 2.0]], dtype=F64)
    b = torch.tensor([[3.0, -1.0]], dtype=F64)
    out = layer({"Input1": a, "Input2": b}, precision="float64")
    torch.testing.assert_close(out["dB"], a * a)           # d(a²b)/db = a²
    torch.testing.assert_close(out["Output"], a * a * b)


def test_loss_on_the_gradient_reaches_the_arrays():
    """The gradient port carries its graph: d/dθ of a loss on u' equals torch's."""
    u = _u()
    layer = NetPortGradientLayer(u, "Input")
    x = torch.linspace(0, 1, 5)[:, None]
    g = layer.forward(x)["Gradient"]
    loss = (g - 1).pow(2).mean()
    got = torch.autograd.grad(loss, [u["0"].Weights, u["2"].Weights])
    xr = x.clone().requires_grad_(True)
    (gr,) = torch.autograd.grad(u.forward(xr).sum(), xr, create_graph=True)
    want = torch.autograd.grad((gr - 1).pow(2).mean(), [u["0"].Weights, u["2"].Weights])
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)


def test_under_no_grad_it_still_gives_values():
    layer = NetPortGradientLayer(_u(), "Input")
    x = torch.linspace(0, 1, 5)[:, None]
    with torch.no_grad():
        out = layer.forward(x)
    assert not out["Gradient"].requires_grad
    torch.testing.assert_close(out["Gradient"], layer.forward(x)["Gradient"].detach())


def test_netportgradient_paths_save_and_load():
    layer = NetPortGradientLayer(_u(), "Input")
    g = layer(np.zeros((3, 1), np.float32), NetPortGradient(("Net", "0", "Weights")))
    assert g.shape == (8, 1)
    path = os.path.join(tempfile.mkdtemp(), "grad.netgrad")
    ng.save(layer, path)
    back = ng.load(path)
    assert isinstance(back, NetPortGradientLayer)
    assert back.output_names() == layer.output_names()
    x = np.linspace(0, 1, 4, dtype=np.float32)[:, None]
    np.testing.assert_array_equal(back(x)["Gradient"], layer(x)["Gradient"])


def test_a_removable_singularity_in_the_differentiated_net():
    """u = sin(x)/x: u'(0) = 0 and u''(0) = -1/3, through the ports."""
    u = NetChain([ElementwiseLayer(lambda v: torch.sin(v) / v)], input=1)
    d2u = NetPortGradientLayer(NetPortGradientLayer(u, "Input"), "Input", output="Gradient",
                               name="Curvature")
    out = d2u(torch.zeros(1, 1, dtype=F64), precision="float64")
    assert out["Output"].item() == 1.0 and out["Gradient"].item() == 0.0
    assert out["Curvature"].item() == pytest.approx(-1 / 3, rel=1e-14)


def test_in_a_graph_the_port_feeds_other_layers():
    layer = NetPortGradientLayer(_u(), "Input")
    graph = NetGraph({"d": layer, "sq": ElementwiseLayer(lambda v: v * v)},
                     [(NetPort("d", "Gradient"), "sq"), ("sq", NetPort("Squared"))], Input=1)
    assert "Squared" in graph.output_names()
    x = np.linspace(0, 1, 3, dtype=np.float32)[:, None]
    out = graph(x)
    np.testing.assert_allclose(out["Squared"], layer(x)["Gradient"] ** 2, rtol=1e-6)
    assert math.isfinite(float(out["Squared"].sum()))
