"""User functions are saved as traced data and rebuilt from the allow-list."""

import math

import numpy as np
import pytest
import torch

import netgrad as ng
import netgrad.io as nio
from netgrad import All, ElementwiseLayer, NetChain, NetPortGradient, ThreadingLayer
from netgrad.io._function import function_from_data, trace_function

from io_examples import config_as_json

W = torch.tensor([0.5, -2.0, 3.0])

UNARY = {
    "where_sqrt": lambda x: torch.where(x > 0, torch.sqrt(x), x * 0.5),
    "ops_calls": lambda x: ng.ops.ramp(x) * ng.ops.log1p(ng.ops.abs(x)),
    "methods": lambda x: x.clamp(min=0).sqrt() + x.tanh() ** 2,
    "constants": lambda x: x * math.pi - 1 / (1 + x.abs()),
    "captured_tensor": lambda x: x * W,
    "indexing": lambda x: x - x[..., 0:1],
    "functional": lambda x: torch.nn.functional.softplus(x) + torch.nn.functional.relu(-x),
    "constant_output": lambda x: 2.0,
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_elementwise_function_round_trips(name, tmp_path):
    net = NetChain([ElementwiseLayer(UNARY[name], input=3)])
    nio.save(net, tmp_path / "f.netgrad")
    loaded = nio.load(tmp_path / "f.netgrad")
    assert isinstance(loaded[0].function, nio.TracedFunction)
    x = np.array([[0.0, -0.0, 4.0], [-1.5, 1e-30, 2.0], [1e4, -1e4, 0.25]], np.float32)
    for data in (x, x.astype(np.float64)):
        a, b = net(data), loaded(data)
        assert np.array_equal(a, b, equal_nan=True)
        ga, gb = net(data, NetPortGradient("Input")), loaded(data, NetPortGradient("Input"))
        assert np.array_equal(ga, gb, equal_nan=True)


def test_threading_function_round_trips_with_gradients(tmp_path):
    layer = ThreadingLayer(lambda x, y, z: ng.ops.hypot(x, y) * z - torch.maximum(x, z), n=3)
    nio.save(layer, tmp_path / "t.netgrad")
    loaded = nio.load(tmp_path / "t.netgrad")
    data = {"Input1": np.array([0.0, 1.0, -2.0], np.float32),
            "Input2": np.array([0.0, 0.0, 3.0], np.float32),
            "Input3": np.array([1.0, 1.0, -2.0], np.float32)}
    ga, gb = layer(data, NetPortGradient(All)), loaded(data, NetPortGradient(All))
    assert ga.keys() == gb.keys()
    for k in ga:
        assert np.array_equal(ga[k], gb[k], equal_nan=True)


def test_rebuilt_function_runs_under_robust_like_the_original(monkeypatch):
    calls = []
    real = ng.ops.robust

    def spy():
        calls.append(1)
        return real()

    import netgrad.layers._elementwise as el
    monkeypatch.setattr(el.ops, "robust", spy)
    layer = ElementwiseLayer(lambda x: torch.sqrt(x))
    rebuilt = ElementwiseLayer(function_from_data(
        trace_function(layer.function, 1, "test"), 1, "test"))
    rebuilt(np.array([1.0, 4.0], np.float32))
    assert calls


def test_ops_are_recorded_as_ops_not_traced_into():
    data = trace_function(lambda x: ng.ops.where(x > 0, ng.ops.sqrt(x), 0.0), 1, "test")
    assert [n["op"] for n in data["nodes"]] == ["input", "operator.gt", "netgrad.ops.sqrt",
                                                "netgrad.ops.where"]
    assert ng.ops.sqrt.__name__ == "sqrt" and "leaf" not in repr(ng.ops.sqrt)  # restored


@pytest.mark.parametrize("fn, named", [
    (lambda x: torch.cumsum(x, 0).exp2() if False else torch.special.erfcx(x), "erfcx"),
    (lambda x: math.sqrt(x), "math.sqrt"),
    (lambda x: x.new_ones(3) + x.cumsum(0).flip(0), "new_ones"),
    (lambda x: torch.nn.ReLU()(x), "torch module ReLU"),
])
def test_unsupported_operation_is_named_at_save_time(fn, named, tmp_path):
    with pytest.raises(ng.NetValueError, match=named) as e:
        nio.save(ElementwiseLayer(fn), tmp_path / "x.netgrad")
    assert "ElementwiseLayer" in str(e.value) and "Fix:" in str(e.value)
    assert not (tmp_path / "x.netgrad").exists()


def test_control_flow_on_values_is_refused_at_save_time(tmp_path):
    def f(x):
        if x.sum() > 0:
            return x
        return -x

    with pytest.raises(ng.NetValueError, match="control flow"):
        nio.save(NetChain({"f": ElementwiseLayer(f)}), tmp_path / "x.netgrad")


def test_resaving_a_loaded_function_keeps_its_data():
    layer = ThreadingLayer(lambda a, b: a * b + 1)
    rebuilt = ThreadingLayer(function_from_data(trace_function(layer.function, 2, "t"), 2, "t"),
                             n=2)
    assert config_as_json(rebuilt) == config_as_json(layer)
    assert rebuilt.config_text() == layer.config_text()
