"""The seed report: NetChain[{ElementwiseLayer[Ramp], AggregationLayer[Times, 1]}]."""

import re

import numpy as np
import pytest

import netgrad as ng
from netgrad import AggregationLayer, ElementwiseLayer, NetChain, NetPortGradient
from netgrad.demo import workaround_graph


def seed(input=None):
    return NetChain(["Ramp", AggregationLayer("Times", 1)], input=input)


@pytest.mark.parametrize("x, value, grad", [
    ([4, 2], 8.0, [2.0, 4.0]),
    ([4, -2], 0.0, [0.0, 0.0]),
    ([-4, -2], 0.0, [0.0, 0.0]),
])
def test_seed_net_values_and_input_gradient(x, value, grad):
    net = seed()
    assert net(x) == value
    g = net(x, NetPortGradient("Input"))
    assert isinstance(g, np.ndarray) and g.dtype == np.float32
    np.testing.assert_array_equal(g, grad)
    assert np.all(np.isfinite(g))


@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_seed_net_batch_per_example_gradients(precision):
    net = seed(input=2)
    xs = np.array([[4, 2], [4, -2], [-4, -2], [0, 0], [0, 3]], dtype=np.float64)
    np.testing.assert_array_equal(net(xs, precision=precision), [8, 0, 0, 0, 0])
    g = net(xs, NetPortGradient("Input"), precision=precision)
    np.testing.assert_array_equal(g, [[2, 4], [0, 0], [0, 0], [0, 0], [0, 0]])
    assert g.dtype == (np.float64 if precision == "float64" else np.float32)


@pytest.mark.parametrize("x", [[4, 2], [4, -2], [-4, -2], [0, 0]])
def test_x_minus_x_in_place_of_ramp_has_zero_gradient(x):
    net = NetChain([ElementwiseLayer(lambda v: v - v), AggregationLayer("Times", 1)])
    assert net(x) == 0.0
    np.testing.assert_array_equal(net(x, NetPortGradient("Input")), [0.0, 0.0])


def test_workaround_graph_from_the_report():
    g = workaround_graph()
    assert g([4, 2]) == 8.0
    assert g([4, -2]) == 0.0
    np.testing.assert_array_equal(g([4, 2], NetPortGradient("Input")), [2.0, 4.0])
    np.testing.assert_array_equal(g([4, -2], NetPortGradient("Input")), [0.0, 0.0])


def test_seed_net_with_many_zero_factors_is_exact():
    # several zeros and one non-zero: the exclusive products give exact gradients
    times = AggregationLayer("Times", 1)
    np.testing.assert_array_equal(times([3, 0, 5], NetPortGradient("Input")), [0, 15, 0])
    np.testing.assert_array_equal(times([0, 0, 5], NetPortGradient("Input")), [0, 0, 0])
    # through Ramp, whose derivative at exactly 0 is 0 (contract rule 4)
    net = NetChain(["Ramp", times])
    np.testing.assert_array_equal(net([3, 0, 5], NetPortGradient("Input")), [0, 0, 0])
    np.testing.assert_array_equal(net([3, 2, 5], NetPortGradient("Input")), [10, 15, 6])


def test_demo_runs(capsys, tmp_path):
    from netgrad.__main__ import main
    assert main(["--figures", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ("red_channel_gradient.png", "net_graph.png"):   # the demo's pictures
        assert str(tmp_path / name) in out and (tmp_path / name).stat().st_size > 5000
    assert "8.0" in out and "[0. 0.]" in out and "NetPortGradient" in out
    assert not re.search(r"\b(nan|inf)\b", out)  # numpy prints non-finite values this way


def test_torch_tensors_in_tensors_out():
    import torch
    net = seed()
    x = torch.tensor([4.0, 2.0], requires_grad=True)
    y = net(x)
    assert isinstance(y, torch.Tensor) and y.shape == ()
    y.backward()  # autograd flows through a Wolfram-style call on tensors
    assert x.grad.tolist() == [2.0, 4.0]
    g = net(torch.tensor([4.0, -2.0]), NetPortGradient("Input"))
    assert isinstance(g, torch.Tensor) and g.tolist() == [0.0, 0.0]
    assert ng.NetPortGradient("Input") == ng.NetPortGradient("Input")
