"""NetSharedArray: one tensor for several layers; its gradient is the sum over its uses; it is
initialized, trained, evaluated in float64, saved once and loaded tied again."""

import numpy as np
import pytest
import torch

import netgrad as ng
from netgrad import LinearLayer, NetGraph, NetPort, NetPortGradient, NetSharedArray, TotalLayer


def _siamese():
    w, b = NetSharedArray("w"), NetSharedArray("b")
    return NetGraph({"left": LinearLayer(3, weights=w, biases=b),
                     "right": LinearLayer(3, weights=w, biases=b), "sum": TotalLayer()},
                    [(NetPort("X"), "left"), (NetPort("Y"), "right"), (["left", "right"], "sum")],
                    X=2, Y=2)


def test_one_tensor_initialized_once_for_every_use():
    net = _siamese()
    assert net["left"].Weights is net["right"].Weights
    assert len(net.uninitialized_arrays()) == 4
    net = ng.NetInitialize(net, seed=0)
    assert net["left"].Weights is net["right"].Weights and net.is_initialized()
    assert sum(p.numel() for p in net.parameters()) == 9


def test_the_gradient_is_the_sum_over_uses_in_both_precisions():
    net = ng.NetInitialize(_siamese(), seed=0)
    x = {"X": np.array([1.0, 2.0]), "Y": np.array([3.0, -1.0])}
    for precision in ("float32", "float64"):
        g = net(x, NetPortGradient(("left", "Weights")), precision=precision)
        np.testing.assert_allclose(g, np.tile([4.0, 1.0], (3, 1)))  # X + Y
        np.testing.assert_array_equal(g, net(x, NetPortGradient(("right", "Weights")),
                                             precision=precision))
    torch.testing.assert_close(torch.tensor(net(x)), torch.tensor(net(x, precision="float64")),
                               check_dtype=False)


def test_training_keeps_the_arrays_tied():
    net = ng.NetInitialize(_siamese(), seed=1)
    data = ({"X": np.random.rand(32, 2), "Y": np.random.rand(32, 2)}, np.random.rand(32, 3))
    trained = ng.train(net, data, max_training_rounds=2, progress=False)
    assert trained["left"].Weights is trained["right"].Weights
    assert not torch.equal(trained["left"].Weights, net["left"].Weights)


def test_saved_once_and_tied_again(tmp_path):
    net = ng.NetInitialize(_siamese(), seed=2)
    ng.save(net, tmp_path / "s.netgrad")
    _, tensors = ng.io.read_bundle(tmp_path / "s.netgrad")
    assert sorted(tensors) == ["left.Biases", "left.Weights"]
    again = ng.load(tmp_path / "s.netgrad")
    assert again["left"].Weights is again["right"].Weights
    x = {"X": np.array([[0.5, 1.0]]), "Y": np.array([[2.0, 0.0]])}
    np.testing.assert_array_equal(again(x), net(x))


def test_shapes_must_agree_and_values_can_be_given():
    w = NetSharedArray("w", values=np.ones((2, 2)))
    a = LinearLayer(2, weights=w, input=2)
    assert a.array_state("Weights") == "set" and a.Weights.sum() == 4
    b = LinearLayer(2, weights=w)
    assert b.Weights is a.Weights and b.port_shape("Input") == (2,)
    with pytest.raises(ng.ShapeError, match="every use must have that shape"):
        LinearLayer(2, input=3).set_array("Weights", w)
    with pytest.raises(ng.NetTypeError, match="non-empty name"):
        NetSharedArray("")
