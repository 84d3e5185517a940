"""DotLayer, TotalLayer, SummationLayer, UnitVectorLayer, ContrastiveLossLayer against NumPy
and torch; strong zeros, kinks, 0-based indices, errors."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import netgrad as ng
from netgrad import (ContrastiveLossLayer, DotLayer, NetGraph, NetPort, NetPortGradient,
                     SummationLayer, TotalLayer, UnitVectorLayer)

from _layer_testing import compiles_fullgraph, gradchecks

F64 = torch.float64
RNG = np.random.default_rng(0)


@pytest.mark.parametrize("a, b", [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
                                  ((2, 2, 3), (3, 2, 2))])
def test_dot_contracts_last_with_first_like_tensordot(a, b):
    x, y = RNG.normal(size=(2,) + a), RNG.normal(size=(2,) + b)
    layer = DotLayer(input1=a, input2=b)
    want = np.stack([np.tensordot(x[i], y[i], 1) for i in range(2)])
    assert layer.port_shape("Output") == want.shape[1:]
    np.testing.assert_allclose(layer({"Input1": x, "Input2": y}, precision="float64"), want,
                               rtol=1e-12)
    gradchecks(layer.double(), torch.tensor(x), torch.tensor(y))


def test_dot_strong_zeros_and_errors():
    a = torch.tensor([[0.0, 1.0]], requires_grad=True)
    b = torch.tensor([[torch.inf, 2.0]])
    (g,) = torch.autograd.grad(DotLayer().forward(a, b), a, torch.tensor([0.0]))
    assert g.eq(0).all()  # a zero cotangent stays 0 against inf
    with pytest.raises(ng.ShapeError, match="last dimension of Input1"):
        DotLayer(input1=(2, 3), input2=(2,))
    with pytest.raises(ng.ShapeError, match="rank at least 1"):
        DotLayer(input1=())


def test_total_is_a_residual_sum():
    graph = ng.NetInitialize(NetGraph(
        {"lin": ng.LinearLayer(3), "act": "Ramp", "sum": TotalLayer()},
        [("lin", "act"), (["act", NetPort("Input")], "sum")], Input=3), seed=0)
    x = RNG.normal(size=(4, 3))
    w = graph["lin"].Weights.detach().numpy()
    b = graph["lin"].Biases.detach().numpy()
    np.testing.assert_allclose(graph(x), np.maximum(x @ w.T + b, 0) + x, rtol=1e-5, atol=1e-6)
    three = TotalLayer(3)
    np.testing.assert_array_equal(three({"Input1": [1.0], "Input2": [2.0], "Input3": [3.0]}), [6.0])
    with pytest.raises(ng.ShapeError, match="one shape"):
        NetGraph({"t": TotalLayer()}, [], Input1=2, Input2=3)
    gradchecks(TotalLayer().double(), torch.randn(2, 3, dtype=F64), torch.randn(2, 3, dtype=F64))


def test_summation():
    x = RNG.normal(size=(3, 2, 4))
    np.testing.assert_allclose(SummationLayer(input=(2, 4))(x, precision="float64"),
                               x.sum((1, 2)), rtol=1e-12)
    np.testing.assert_array_equal(SummationLayer()(x[0], NetPortGradient("Input")),
                                  np.ones((2, 4)))


def test_unit_vector_is_zero_based_one_hot():
    layer = UnitVectorLayer(4, input=3)
    idx = np.array([[0, 3, 1], [2, 2, 0]])
    np.testing.assert_array_equal(layer(idx), F.one_hot(torch.tensor(idx), 4).numpy())
    assert layer.port_shape("Output") == (3, 4) and layer.integer_ports() == {"Input"}
    assert UnitVectorLayer(3, input=())(2).tolist() == [0.0, 0.0, 1.0]
    with pytest.raises(ng.NetValueError, match="0-based") as e:
        layer([[0, 4, 1]])
    assert "got 4" in str(e.value)
    chain = ng.NetInitialize(ng.NetChain([UnitVectorLayer(3), ng.LinearLayer(2)], input=()), seed=0)
    assert chain([0, 2], precision="float64").dtype == np.float64


def test_contrastive_loss_against_the_formula():
    d = np.array([0.0, 0.3, 0.7, 1.0, 1.5])
    for t in (np.zeros(5), np.ones(5)):
        layer = ContrastiveLossLayer(1.0, input=())
        got = layer({"Input": d, "Target": t}, precision="float64")
        want = (1 - t) * d ** 2 + t * np.maximum(1.0 - d, 0) ** 2
        np.testing.assert_allclose(got, want, rtol=1e-12)
        g = layer({"Input": d, "Target": t}, NetPortGradient("Input"), precision="float64")
        np.testing.assert_allclose(g, 2 * (1 - t) * d - 2 * t * np.maximum(1 - d, 0), rtol=1e-12)
    assert ContrastiveLossLayer(0.5)({"Input": 0.6, "Target": True}) == 0.0
    gradchecks(ContrastiveLossLayer(0.8, input=2).double(), torch.rand(3, 2, dtype=F64),
               torch.tensor([[0.0, 1.0]] * 3, dtype=F64))


def test_contrastive_loss_of_identical_embeddings_has_a_finite_gradient():
    """The Siamese distance ‖a - b‖ at a = b: gradient 0 with netgrad's norm (NaN naively)."""
    net = NetGraph({"d": ng.FunctionLayer(lambda a, b: torch.linalg.vector_norm(a - b, dim=-1),
                                          a=3, b=3),
                    "loss": ContrastiveLossLayer()},
                   [("d", NetPort("loss", "Input"))])
    assert net.port_shape("Target") == ()
    same = np.array([0.5, -1.0, 2.0])
    for t in (0.0, 1.0):
        g = net({"a": same, "b": same, "Target": t}, NetPortGradient("a"))
        assert np.isfinite(g).all() and not g.any()
    a = torch.tensor(same, requires_grad=True)
    naive = torch.sqrt(((a - a.detach()) ** 2).sum())
    assert torch.isnan(torch.autograd.grad(naive, a)[0]).all()


def test_compile_total():
    # (DotLayer is ops.matmul, which compiles once ops/_linalg.py is on the registry)
    t = TotalLayer()
    compiles_fullgraph(lambda a, b: t.forward(a, b), torch.randn(2, 3), torch.randn(2, 3))
