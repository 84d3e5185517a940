"""The issue-2 layer set: values against NumPy/torch references, shapes, options, errors."""

import numpy as np
import pytest
import torch

import netgrad as ng
from netgrad import (AggregationLayer, CatenateLayer, CrossEntropyLossLayer, DropoutLayer,
                     ElementwiseLayer, FlattenLayer, LinearLayer, MeanAbsoluteLossLayer,
                     MeanSquaredLossLayer, NetPortGradient, PartLayer, ReshapeLayer,
                     SoftmaxLayer, ThreadingLayer)

RNG = np.random.default_rng(0)
X = RNG.normal(size=(2, 3, 4))


@pytest.mark.parametrize("name, ref", [
    ("Ramp", lambda x: np.maximum(x, 0)), ("Tanh", np.tanh),
    ("LogisticSigmoid", lambda x: 1 / (1 + np.exp(-x))), ("Exp", np.exp),
    ("Abs", np.abs), ("Sin", np.sin), ("Cos", np.cos),
    ("Softplus", lambda x: np.log1p(np.exp(x))),
])
def test_elementwise_named_functions(name, ref):
    np.testing.assert_allclose(ElementwiseLayer(name)(X, precision="float64"), ref(X), rtol=1e-12)


@pytest.mark.parametrize("name, ref", [("Log", np.log), ("Sqrt", np.sqrt)])
def test_elementwise_positive_domain(name, ref):
    x = np.abs(X) + 0.1
    np.testing.assert_allclose(ElementwiseLayer(name)(x, precision="float64"), ref(x), rtol=1e-12)


def test_elementwise_python_function_and_shape_guard():
    f = ElementwiseLayer(lambda x: torch.sin(x) * 2 + x ** 2)
    np.testing.assert_allclose(f(X, precision="float64"), np.sin(X) * 2 + X ** 2, rtol=1e-12)
    bad = ElementwiseLayer(lambda x: x.sum(-1))
    with pytest.raises(ng.ShapeError, match="input's shape"):
        bad(X)


def test_threading_layer_broadcasts_from_the_last_dimension():
    t = ThreadingLayer("Times")
    out = t({"Input1": X[0], "Input2": X[0, 0]}, precision="float64")
    np.testing.assert_allclose(out, X[0] * X[0, 0], rtol=1e-12)
    g = ng.NetGraph({"t": ThreadingLayer(lambda a, b, c: a * b - c)}, [], Input1=(3, 4),
                    Input2=4, Input3=())
    assert g.input_names() == ("Input1", "Input2", "Input3")
    assert g.port_shape("Output") == (3, 4)
    batch = {"Input1": np.ones((5, 3, 4)), "Input2": np.arange(20.0).reshape(5, 4),
             "Input3": np.arange(5.0)}
    out = g(batch)
    assert out.shape == (5, 3, 4)
    np.testing.assert_allclose(out[2, 1], np.arange(8.0, 12.0) - 2)
    with pytest.raises(ng.ShapeError, match="broadcast"):
        ng.NetGraph({"t": ThreadingLayer("Plus")}, [], Input1=3, Input2=4)


@pytest.mark.parametrize("fn, ref", [("Total", np.sum), ("Times", np.prod), ("Max", np.max),
                                     ("Min", np.min), ("Mean", np.mean)])
@pytest.mark.parametrize("levels, axes", [(1, (0,)), ("2;;", (1, 2)), (-1, (2,)), ((1, 3), (0, 2)),
                                          ("1;;2", (0, 1))])
def test_aggregation_levels(fn, ref, levels, axes):
    layer = AggregationLayer(fn, levels)
    np.testing.assert_allclose(layer(X, precision="float64"), ref(X, axis=axes), rtol=1e-12)
    declared = AggregationLayer(fn, levels, input=(2, 3, 4))
    assert declared.port_shape("Output") == ref(X, axis=axes).shape


def test_aggregation_errors():
    with pytest.raises(ng.ShapeError, match="level 4 does not exist"):
        AggregationLayer("Total", 4, input=(2, 3))
    with pytest.raises(ng.ShapeError, match="select no dimension"):
        AggregationLayer("Total", input=3)
    with pytest.raises(ng.NetValueError, match="knows"):
        AggregationLayer("Product")


def test_max_ties_split_the_gradient():
    g = AggregationLayer("Max", 1)([1.0, 3.0, 3.0, 2.0], NetPortGradient("Input"))
    np.testing.assert_allclose(g, [0, 0.5, 0.5, 0])


def test_linear_layer_shapes_and_values():
    w = RNG.normal(size=(6, 12))
    assert LinearLayer((2, 3), weights=w).port_shape("Input") == (12,)
    lin = LinearLayer((2, 3), input=(3, 4), weights=w, biases=np.arange(6.0))
    x = RNG.normal(size=(3, 4))
    out = lin(x, precision="float64")
    np.testing.assert_allclose(out, (w @ x.reshape(-1) + np.arange(6)).reshape(2, 3), rtol=1e-6)
    scalar = LinearLayer((), weights=np.ones((1, 2)), biases=False)
    assert scalar([1.0, 2.0]) == 3.0 and scalar.array_names == ("Weights",)
    with pytest.raises(ng.ShapeError, match="must have shape"):
        LinearLayer(2, input=3).set_array("Weights", np.zeros((3, 2)))


def test_part_layer():
    np.testing.assert_array_equal(PartLayer(1)(X), X[1].astype(np.float32))
    np.testing.assert_array_equal(PartLayer((slice(None), -1))(X), X[:, -1].astype(np.float32))
    p = PartLayer((0, slice(1, 3)), input=(2, 3, 4))
    assert p.port_shape("Output") == (2, 4)
    with pytest.raises(ng.ShapeError, match=r"index 5 must lie in \[-2, 1\]"):
        PartLayer(5, input=(2, 3))
    assert PartLayer.from_config(p.get_config()).part == p.part


def test_catenate_reshape_flatten():
    g = ng.NetGraph({"c": CatenateLayer(level=2)}, [], Input1=(2, 3), Input2=(2, 5))
    assert g.port_shape("Output") == (2, 8)
    out = g({"Input1": np.ones((2, 3)), "Input2": np.zeros((2, 5))})
    assert out.shape == (2, 8) and out[:, :3].all() and not out[:, 3:].any()
    with pytest.raises(ng.ShapeError, match="agree in every dimension"):
        ng.NetGraph({"c": CatenateLayer()}, [], Input1=(2, 3), Input2=(2, 5))
    r = ReshapeLayer((4, -1), input=(2, 3, 4))
    assert r.port_shape("Output") == (4, 6)
    np.testing.assert_array_equal(r(X), X.reshape(4, 6).astype(np.float32))
    with pytest.raises(ng.ShapeError, match="elements"):
        ReshapeLayer((5, 5), input=(2, 3))
    assert FlattenLayer(input=(2, 3, 4)).port_shape("Output") == (24,)
    assert FlattenLayer(1, input=(2, 3, 4)).port_shape("Output") == (6, 4)
    np.testing.assert_array_equal(FlattenLayer(1)(X), X.reshape(6, 4).astype(np.float32))


def test_softmax_layer():
    s = SoftmaxLayer()
    x = RNG.normal(size=(3, 5))
    e = np.exp(x - x.max(-1, keepdims=True))
    np.testing.assert_allclose(s(x, precision="float64"), e / e.sum(-1, keepdims=True), rtol=1e-12)


def test_dropout_validates_p():
    with pytest.raises(ng.NetValueError, match=r"\[0, 1\)"):
        DropoutLayer(1.0)


def test_losses():
    a, b = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
    mse = MeanSquaredLossLayer(input=3)
    np.testing.assert_allclose(mse({"Input": a, "Target": b}, precision="float64"),
                               ((a - b) ** 2).mean(-1), rtol=1e-12)
    mae = MeanAbsoluteLossLayer()
    np.testing.assert_allclose(mae({"Input": a[0], "Target": b[0]}, precision="float64"),
                               np.abs(a[0] - b[0]).mean(), rtol=1e-12)
    # |x - t| at x == t has gradient 0 (minimum-norm subgradient)
    np.testing.assert_array_equal(mae({"Input": [1.0, 2.0], "Target": [1.0, 3.0]},
                                      NetPortGradient("Input")), [0.0, -0.5])
    p = np.array([[0.2, 0.3, 0.5], [0.0, 1.0, 0.0]])
    ce = CrossEntropyLossLayer("Index", input=3)
    np.testing.assert_allclose(ce({"Input": p, "Target": [2, 1]}, precision="float64"),
                               [-np.log(0.5), 0.0], rtol=1e-12)
    cp = CrossEntropyLossLayer("Probabilities")
    t = np.array([0.0, 1.0, 0.0])
    assert cp({"Input": p[1], "Target": t}) == 0.0  # 0·log 0 is 0, no NaN
    g = cp({"Input": p[1], "Target": t}, NetPortGradient("Input"))
    assert np.all(np.isfinite(g)) and g[1] == -1.0
    cb = CrossEntropyLossLayer("Binary")
    np.testing.assert_allclose(cb({"Input": [0.25], "Target": [1.0]}, precision="float64"),
                               -np.log(0.25), rtol=1e-12)
    with pytest.raises(ng.NetValueError, match="integers"):
        ce({"Input": p, "Target": [0.5, 1]})
    with pytest.raises(ng.NetValueError, match="one of"):
        CrossEntropyLossLayer("Categorical")


@pytest.mark.parametrize("layer", [
    ElementwiseLayer("Tanh"), AggregationLayer("Max", 1), LinearLayer(3), PartLayer(0),
    CatenateLayer(), ReshapeLayer((2, -1)), FlattenLayer(), SoftmaxLayer(), DropoutLayer(0.2),
    MeanSquaredLossLayer(), MeanAbsoluteLossLayer(), CrossEntropyLossLayer("Binary"),
    ThreadingLayer("Plus", 3),
])
def test_config_round_trip_of_core_layers(layer):
    again = type(layer).from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    assert again.input_names() == layer.input_names()
