"""EmbeddingLayer against torch.nn.Embedding (copied weights, float64), indices, errors."""

import numpy as np
import pytest
import torch

import netgrad as ng
from netgrad import EmbeddingLayer, NetChain, NetPortGradient

from _layer_testing import call, compiles_fullgraph, func_grad_and_vmap

F64 = torch.float64


def _pair(size=4, n=7):
    ref = torch.nn.Embedding(n, size).double()
    layer = EmbeddingLayer(size, n, weights=ref.weight.detach()).double()
    return layer, ref


def test_values_and_weight_gradient_match_torch():
    layer, ref = _pair()
    idx = torch.tensor([[0, 3, 3, 6], [1, 1, 0, 2]])
    torch.testing.assert_close(layer.forward(idx), ref(idx))
    g = torch.randn(2, 4, 4, dtype=F64)
    (a,) = torch.autograd.grad(layer.forward(idx), layer.Weights, g)
    (b,) = torch.autograd.grad(ref(idx), ref.weight, g)
    torch.testing.assert_close(a, b)
    assert a[4].eq(0).all() and a[5].eq(0).all()  # rows not used: exactly 0


def test_wolfram_style_evaluation_and_netportgradient():
    w = np.arange(12.0).reshape(4, 3)
    layer = EmbeddingLayer(3, 4, weights=w, input=2)
    assert layer.port_shape("Output") == (2, 3)
    np.testing.assert_array_equal(layer([2, 0]), w[[2, 0]])
    np.testing.assert_array_equal(layer([[2, 0], [1, 1]]), w[[[2, 0], [1, 1]]])
    g = layer([3, 3], NetPortGradient("Weights"))
    np.testing.assert_array_equal(g, [[0, 0, 0]] * 3 + [[2, 2, 2]])
    one = EmbeddingLayer(3, 4, weights=w, input=())  # one index per example
    np.testing.assert_array_equal(one(1), w[1])
    np.testing.assert_array_equal(one([1, 3]), w[[1, 3]])


def test_indices_have_no_gradient_and_are_named_integers():
    layer = EmbeddingLayer(2, 3, weights=np.ones((3, 2)), input=2)
    assert layer.integer_ports() == frozenset({"Input"})
    with pytest.raises(ng.NetValueError, match="integers"):
        layer([0, 1], NetPortGradient("Input"))
    with pytest.raises(ng.NetValueError, match="integers"):
        layer([0.5, 1.0])


def test_out_of_range_indices_are_a_clear_error():
    layer = EmbeddingLayer(2, 3, weights=np.ones((3, 2)))
    for bad, shown in (([0, 3], "got 3 at index (0, 1)"), ([-1, 0], "got -1 at index (0, 0)")):
        with pytest.raises(ng.NetValueError) as e:
            layer(bad)
        msg = str(e.value)
        assert 'EmbeddingLayer, port "Input"' in msg and "0-based" in msg and shown in msg
        assert "Fix:" in msg


def test_in_a_chain_with_inferred_shapes():
    chain = ng.NetInitialize(NetChain([EmbeddingLayer(3, 10), ng.FlattenLayer(),
                                       ng.LinearLayer(2)], input=5), seed=0)
    assert chain.port_shape("Output") == (2,)
    assert chain[0].Weights.shape == (10, 3)
    out = chain(np.array([[0, 1, 2, 3, 4], [9, 9, 9, 9, 9]]))
    assert out.shape == (2, 2) and np.isfinite(out).all()
    g = chain([0, 1, 2, 3, 4], NetPortGradient((0, "Weights")))
    assert g.shape == (10, 3) and not g[5:].any()


def test_bad_arguments_have_four_part_errors():
    cases = [
        (lambda: EmbeddingLayer(0, 3), ng.NetValueError, "size must be at least 1"),
        (lambda: EmbeddingLayer(2.5, 3), ng.NetTypeError, "size must be an int"),
        (lambda: EmbeddingLayer(3), ng.NetValueError, "number of indices"),
        (lambda: EmbeddingLayer(3, 4, weights=np.zeros((4, 2))), ng.ShapeError, "weights of shape"),
    ]
    for make, kind, text in cases:
        with pytest.raises(kind, match=text) as e:
            make()
        assert e.value.where == "EmbeddingLayer" and e.value.got
    assert EmbeddingLayer(3, weights=np.zeros((5, 3))).n == 5


def test_initialization_methods():
    for method, check in (("Kaiming", lambda w: abs(w.std() - 1) < 0.2),
                          ("Xavier", lambda w: w.abs().max() <= (6 / 1010) ** 0.5),
                          ("Orthogonal", lambda w: torch.allclose(w.T @ w, torch.eye(10),
                                                                  atol=1e-4))):
        w = ng.NetInitialize(EmbeddingLayer(10, 1000), method, seed=0).Weights.detach()
        assert check(w), method


def test_torch_func_and_compile():
    layer, _ = _pair()
    idx = torch.tensor([[0, 3, 5], [6, 1, 0]])
    func_grad_and_vmap(layer, idx)
    w = layer.Weights.detach()

    def f(weights, i):
        return call(layer, {"Weights": weights}, i)
    compiles_fullgraph(f, w, idx)


def test_gradchecks_with_respect_to_the_weights():
    from _layer_testing import gradchecks
    layer, _ = _pair(size=3, n=5)
    gradchecks(layer, torch.tensor([[0, 4, 4], [2, 2, 1]]))
