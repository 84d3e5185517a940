"""TransposeLayer, ReplicateLayer, AppendLayer, PrependLayer, ExtractLayer, OrderingLayer
against NumPy; gradients; 0-based positions; errors; torch.func and compile."""

import numpy as np
import pytest
import torch

import netgrad as ng
from netgrad import (AppendLayer, ExtractLayer, NetPortGradient, OrderingLayer, PrependLayer,
                     ReplicateLayer, TransposeLayer)

from _layer_testing import compiles_fullgraph, func_grad_and_vmap, gradchecks

F64 = torch.float64
RNG = np.random.default_rng(0)
X = RNG.normal(size=(2, 3, 4, 5))


@pytest.mark.parametrize("perm, axes", [((0, 1), (1, 0, 2)), ((2, 0, 1), (2, 0, 1)),
                                        ((0, -1), (2, 1, 0)), ((1, 2), (0, 2, 1))])
def test_transpose_matches_numpy(perm, axes):
    layer = TransposeLayer(perm, input=(3, 4, 5))
    want = np.transpose(X, (0,) + tuple(a + 1 for a in axes))
    assert layer.port_shape("Output") == want.shape[1:]
    np.testing.assert_array_equal(layer(X, precision="float64"), want)
    gradchecks(layer.double(), torch.randn(2, 3, 4, 5, dtype=F64), gradgrad=False)


def test_transpose_errors():
    with pytest.raises(ng.ShapeError, match="dimension 3 does not exist"):
        TransposeLayer((0, 3), input=(2, 2))
    with pytest.raises(ng.ShapeError, match="pair to swap or a permutation"):
        TransposeLayer((0, 0, 1), input=(2, 2, 2))
    with pytest.raises(ng.NetValueError, match="pair of dimensions"):
        TransposeLayer((0,))


def test_replicate_is_a_broadcast_whose_gradient_sums():
    layer = ReplicateLayer((2, 3), 1, input=(4, 5))
    assert layer.port_shape("Output") == (4, 2, 3, 5)
    x = RNG.normal(size=(4, 5))
    np.testing.assert_array_equal(layer(x, precision="float64"),
                                  np.broadcast_to(x[:, None, None, :], (4, 2, 3, 5)))
    np.testing.assert_array_equal(layer(x, NetPortGradient("Input")), np.full((4, 5), 6.0))
    assert ReplicateLayer(3, -1, input=2).port_shape("Output") == (2, 3)
    with pytest.raises(ng.ShapeError, match="level 3 does not exist"):
        ReplicateLayer(2, 3, input=2)
    gradchecks(ReplicateLayer(2, input=3).double(), torch.randn(2, 3, dtype=F64))


def test_append_and_prepend():
    x, e = RNG.normal(size=(2, 3, 2)), RNG.normal(size=(2, 2))
    data = {"Input": x, "Element": e}
    np.testing.assert_array_equal(AppendLayer(input=(3, 2))(data, precision="float64"),
                                  np.concatenate([x, e[:, None]], 1))
    np.testing.assert_array_equal(PrependLayer(input=(3, 2))(data, precision="float64"),
                                  np.concatenate([e[:, None], x], 1))
    layer = AppendLayer(input=(3, 2))
    assert layer.port_shape("Element") == (2,) and layer.port_shape("Output") == (4, 2)
    with pytest.raises(ng.ShapeError, match="one element of Input"):
        ng.NetGraph({"a": AppendLayer()}, [], Input=(3, 2), Element=3)
    gradchecks(layer.double(), torch.randn(2, 3, 2, dtype=F64), torch.randn(2, 2, dtype=F64))


def test_extract_positions_are_zero_based_with_gradients_at_the_places():
    a = np.arange(24.0).reshape(2, 3, 4)
    one = ExtractLayer()
    np.testing.assert_array_equal(one({"Input": a, "Position": [1, 2]}), a[1, 2])
    np.testing.assert_array_equal(one({"Input": a, "Position": [-1]}), a[-1])
    many = {"Input": a, "Position": [[0, 0, 0], [1, 2, 3], [0, 0, 0]]}
    np.testing.assert_array_equal(one(many), [a[0, 0, 0], a[1, 2, 3], a[0, 0, 0]])
    g = one(many, NetPortGradient("Input"))
    want = np.zeros_like(a)
    want[0, 0, 0], want[1, 2, 3] = 2.0, 1.0  # extracted twice: summed
    np.testing.assert_array_equal(g, want)
    with pytest.raises(ng.NetValueError, match="0-based") as e:
        one({"Input": a, "Position": [2, 0]})
    assert 'ExtractLayer, port "Position"' in str(e.value)
    typed = ExtractLayer(input=(3, 4), position=(2, 1))
    assert typed.port_shape("Output") == (2, 4)
    with pytest.raises(ng.ShapeError, match="at most 2 entries"):
        ExtractLayer(input=(3, 4), position=3)


def test_ordering_matches_a_stable_argsort():
    x = np.array([[3.0, 1.0, 2.0, 1.0], [0.0, -1.0, 5.0, 5.0]])
    np.testing.assert_array_equal(OrderingLayer()(x), np.argsort(x, -1, kind="stable"))
    np.testing.assert_array_equal(OrderingLayer(2)(x), [[1, 3], [1, 0]])
    np.testing.assert_array_equal(OrderingLayer(-2)(x), [[2, 0], [2, 3]])
    assert OrderingLayer(-2, input=(2, 4)).port_shape("Output") == (2, 2)
    with pytest.raises(ng.ShapeError, match="has no 5 positions"):
        OrderingLayer(5, input=4)


def test_torch_func_and_compile():
    t = TransposeLayer((1, 0), input=(3, 4)).double()
    x = torch.randn(2, 3, 4, dtype=F64)
    func_grad_and_vmap(t, x)
    compiles_fullgraph(lambda v: t.forward(v), x)
    e = ExtractLayer()
    pos = torch.tensor([[0, 1], [2, 3]])
    compiles_fullgraph(lambda v: e.forward(v, pos), torch.randn(2, 3, 4))
