"""ConstantArrayLayer, NetArrayLayer, RandomArrayLayer, ConstantPlusLayer, ConstantTimesLayer:
values, batches inside graphs, gradients summed over the batch, dtypes, errors."""

import numpy as np
import pytest
import torch

import netgrad as ng
from netgrad import (ConstantArrayLayer, ConstantPlusLayer, ConstantTimesLayer, LinearLayer,
                     NetArrayLayer, NetGraph, NetInitialize, NetPort, NetPortGradient,
                     RandomArrayLayer, ThreadingLayer)

from _layer_testing import gradchecks

F64 = torch.float64


def _plus(source):
    return NetGraph({"a": source, "t": ThreadingLayer("Plus")},
                    [(["a", NetPort("Input")], "t")], Input=2)


def test_constant_array_is_the_same_for_every_example_and_not_learned():
    c = ConstantArrayLayer([[1.0, 2.0]])
    np.testing.assert_array_equal(c({}), [[1.0, 2.0]])
    assert not c.Array.requires_grad and c.array_state("Array") == "set"
    g = _plus(ConstantArrayLayer([10.0, 20.0]))
    np.testing.assert_array_equal(g(np.zeros((3, 2))), [[10, 20]] * 3)
    assert NetPortGradient(("a", "Array")) not in g(np.zeros((3, 2)), NetPortGradient(ng.All))
    with pytest.raises(ng.ShapeError, match="given shape"):
        ConstantArrayLayer([1.0, 2.0], shape=3)
    with pytest.raises(ng.NetValueError, match="array or its shape"):
        ConstantArrayLayer()


def test_net_array_gradient_is_summed_over_the_batch():
    g = NetInitialize(_plus(NetArrayLayer(2)), seed=0)
    assert g["a"].Array.shape == (2,)
    x = np.arange(8.0).reshape(4, 2)
    np.testing.assert_allclose(g(x), x + g["a"].Array.detach().numpy())
    np.testing.assert_array_equal(g(x, NetPortGradient(("a", "Array"))), [4.0, 4.0])
    chain = NetInitialize(ng.NetChain([NetArrayLayer((3,)), LinearLayer(2)]), seed=1)
    assert chain.input_names() == () and chain({}).shape == (2,)
    assert chain({}, NetPortGradient((0, "Array"))).shape == (3,)
    gradchecks(NetArrayLayer(array=[0.5, -1.0]).double())


def test_random_array_is_fresh_per_example_and_follows_the_precision():
    torch.manual_seed(0)
    r = RandomArrayLayer((2,), "Uniform", low=-1.0, high=3.0)
    out = _plus(r)(np.zeros((4000, 2)))
    assert out.min() >= -1 and out.max() <= 3 and abs(out.mean() - 1.0) < 0.1
    assert not np.allclose(out[0], out[1])
    n = RandomArrayLayer(3, mean=2.0, std=0.5)
    v = _plus(RandomArrayLayer(2, mean=2.0, std=0.5))(np.zeros((4000, 2)), precision="float64")
    assert v.dtype == np.float64 and abs(v.mean() - 2) < 0.05 and abs(v.std() - 0.5) < 0.05
    assert n.forward(batch=2).dtype == torch.float32
    assert n.double().forward(batch=2).dtype == F64  # net.double() converts the dtype buffer
    with pytest.raises(ng.NetValueError, match="distribution"):
        RandomArrayLayer(2, "Gamma")
    with pytest.raises(ng.NetValueError, match="low must not exceed high"):
        RandomArrayLayer(2, "Uniform", low=1.0, high=0.0)


def test_constant_plus_and_times():
    x = np.array([[1.0, -2.0], [0.5, 4.0]])
    plus = ConstantPlusLayer(biases=[1.0, 2.0])
    assert plus.port_shape("Input") == (2,)
    np.testing.assert_allclose(plus(x), x + [1.0, 2.0])
    np.testing.assert_array_equal(plus(x, NetPortGradient("Biases")), [2.0, 2.0])
    times = ConstantTimesLayer(input=2)
    np.testing.assert_array_equal(times.Scaling.detach(), [1.0, 1.0])  # natural start
    np.testing.assert_allclose(times(x, NetPortGradient("Scaling")), x.sum(0))
    fixed = ConstantTimesLayer(scaling=[0.0, 2.0], learn=False)
    assert not fixed.Scaling.requires_grad
    t = torch.tensor([[1.0, 1.0]], dtype=torch.float32, requires_grad=True)
    (g,) = torch.autograd.grad(fixed.forward(t), t, torch.tensor([[torch.inf, 1.0]]))
    assert g.tolist() == [[0.0, 2.0]]  # a zero scaling stops an infinite gradient
    gradchecks(ConstantTimesLayer(scaling=[0.5, -2.0]).double(), torch.randn(3, 2, dtype=F64))
    gradchecks(ConstantPlusLayer(input=(2, 2)).double(), torch.randn(3, 2, 2, dtype=F64))
