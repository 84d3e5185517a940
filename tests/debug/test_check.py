"""check_gradients: NetPortGradient against float64 central differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from netgrad import (AggregationLayer, Layer, LinearLayer, MeanSquaredLossLayer,
                     NetChain, NetGraph, NetInitialize, NetPort, NetPortGradient, ThreadingLayer)
from netgrad.debug import check_gradients

ACTIVATIONS = ["Tanh", "LogisticSigmoid", "Softplus", "Sin", "Exp"]


@pytest.mark.parametrize("seed", range(4))
def test_random_chains_pass(seed):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 5, size=rng.integers(1, 4))
    layers = []
    for n in sizes:
        layers += [LinearLayer(int(n)), str(rng.choice(ACTIVATIONS))]
    net = NetInitialize(NetChain(layers, input=int(rng.integers(1, 4))), seed=seed)
    x = rng.normal(size=(3, net.port_shape("Input")[0]))
    result = check_gradients(net, x)
    assert result.ok, str(result)
    assert len(result.checks) == 1 + 2 * len(sizes)
    assert all(c.max_rel_error < 1e-6 for c in result.checks)


def test_graph_with_loss_and_imposed_gradient_passes():
    net = NetGraph({"lin": LinearLayer(3), "t": "Tanh",
                    "prod": ThreadingLayer(lambda a, b: a * b - a / (1 + b * b)),
                    "loss": MeanSquaredLossLayer()},
                   [("lin", "t"), (["t", NetPort("Input")], "prod"), ("prod", "loss")], Input=3)
    net = NetInitialize(net, seed=1)
    rng = np.random.default_rng(1)
    data = {"Input": rng.normal(size=(2, 3)), "Target": rng.normal(size=(2, 3))}
    result = check_gradients(net, data)
    assert result.ok, str(result)
    assert {c.spec for c in result.checks} >= {NetPortGradient("Input"), NetPortGradient("Target"),
                                               NetPortGradient(("lin", "Weights"))}
    vjp = check_gradients(NetInitialize(NetChain([LinearLayer(2), "Tanh"], input=3), seed=0),
                          {"Input": [0.1, 0.2, 0.3], NetPortGradient("Output"): [2.0, -1.0]},
                          specs=["Input", (0, "Weights")])
    assert vjp.ok and len(vjp.checks) == 2


class _WrongSin(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.sin(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * torch.cos(x) * (1 + 0.01 * (x > 0.5))  # wrong by 1% where x > 0.5


class WrongSinLayer(Layer):
    """A custom layer whose backward is wrong for inputs above 0.5."""

    def __init__(self) -> None:
        super().__init__()
        self._setup()

    def forward(self, x):
        return _WrongSin.apply(x)


def test_a_wrong_backward_fails_and_the_worst_element_is_named():
    net = NetInitialize(NetChain({"lin": LinearLayer(3, weights=np.eye(3), biases=np.zeros(3)),
                                  "w": WrongSinLayer(), "sum": AggregationLayer("Total", 1)},
                                 input=3), seed=0)
    x = [0.1, 0.9, 0.3]
    result = check_gradients(net, x, specs=["Input", ("lin", "Biases")])
    assert not result.ok and not result.passed
    c = result["Input"]
    assert not c.ok and c.worst_index == (1,)
    assert c.analytic == pytest.approx(1.01 * np.cos(0.9), rel=1e-6)
    assert c.numeric == pytest.approx(np.cos(0.9), rel=1e-6)
    assert c.max_rel_error == pytest.approx(0.01 / 1.01, rel=1e-3)
    text = str(result)
    assert "FAILED" in text and "FAIL NetPortGradient('Input')" in text and "worst at [1]" in text
    # A point where the bug does not show passes.
    assert check_gradients(net, [0.1, 0.2, 0.3]).ok


def test_max_elements_samples():
    net = NetInitialize(NetChain([LinearLayer(20), "Tanh"], input=10), seed=0)
    result = check_gradients(net, np.linspace(-1, 1, 10), specs=[(0, "Weights")],
                             max_elements=15)
    (c,) = result.checks
    assert c.ok and (c.n_checked, c.n_total) == (15, 200)
