"""Wolfram's named ElementwiseLayer functions and ParametricRampLayer: torch/NumPy references in
float64, infinities, gradchecks, errors."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import netgrad as ng
from netgrad import ElementwiseLayer, NetPortGradient, ParametricRampLayer

from _layer_testing import compiles_fullgraph, gradchecks

F64 = torch.float64

REFERENCES = {
    "ReLU": F.relu, "RectifiedLinearUnit": F.relu, "ELU": F.elu, "SELU": F.selu,
    "GELU": F.gelu, "Swish": F.silu, "HardSwish": F.hardswish, "Mish": F.mish,
    "SoftSign": F.softsign, "SoftPlus": F.softplus, "HardTanh": F.hardtanh,
    "HardSigmoid": lambda x: ((x + 1) / 2).clamp(0, 1), "Sigmoid": torch.sigmoid,
    "Erf": torch.erf, "Gudermannian": lambda x: 2 * torch.atan(torch.tanh(x / 2)),
    "Sinc": lambda x: torch.where(x == 0, 1.0, torch.sin(x) / x),
}


def _points():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, generator=g, dtype=F64) * 3
    return x[(x.abs() > 1e-3) & ((x.abs() - 1).abs() > 1e-3) & ((x + 3).abs() > 1e-3)]


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_values_and_gradients_match_the_reference(name):
    x = _points().requires_grad_()
    layer = ElementwiseLayer(name)
    y = layer.forward(x[None])[0]
    want = REFERENCES[name](x)
    torch.testing.assert_close(y, want, rtol=1e-12, atol=1e-12)
    (g,) = torch.autograd.grad(y.sum(), x)
    (gr,) = torch.autograd.grad(want.sum(), x)
    torch.testing.assert_close(g, gr, rtol=1e-10, atol=1e-12)
    assert torch.autograd.gradcheck(lambda t: layer.forward(t[None])[0], (x[:8],))


LIMITS = {  # value and gradient at -inf and +inf
    "GELU": ((0, 0), (math.inf, 1)), "Swish": ((0, 0), (math.inf, 1)),
    "Mish": ((0, 0), (math.inf, 1)), "HardSwish": ((0, 0), (math.inf, 1)),
    "SoftSign": ((-1, 0), (1, 0)), "Sinc": ((0, 0), (0, 0)), "ELU": ((-1, 0), (math.inf, 1)),
    "Gudermannian": ((-math.pi / 2, 0), (math.pi / 2, 0)), "Erf": ((-1, 0), (1, 0)),
    "HardTanh": ((-1, 0), (1, 0)), "HardSigmoid": ((0, 0), (1, 0)),
}


@pytest.mark.parametrize("name", sorted(LIMITS))
def test_infinite_inputs_give_the_limits_not_nan(name):
    x = torch.tensor([-math.inf, math.inf], dtype=F64, requires_grad=True)
    y = ElementwiseLayer(name).forward(x[None])[0]
    (g,) = torch.autograd.grad(y.sum(), x)
    (v0, g0), (v1, g1) = LIMITS[name]
    assert y.tolist() == [v0, v1] and g.tolist() == [g0, g1], (y, g)


def test_kinks_have_minimum_norm_subgradients_and_torch_differs_where_it_nans():
    x = torch.tensor([0.0, -1.0, 1.0], dtype=F64, requires_grad=True)
    (g,) = torch.autograd.grad(ElementwiseLayer("HardTanh").forward(x[None]).sum(), x)
    assert g.tolist() == [1.0, 0.0, 0.0]  # bounds of clip: 0
    y = torch.tensor([-math.inf], dtype=F64, requires_grad=True)
    assert torch.isnan(F.silu(y)).all()  # torch: -inf·0 = NaN
    assert ElementwiseLayer("Swish").forward(y[None]).item() == 0.0


def test_unknown_names_suggest_a_fix():
    with pytest.raises(ng.NetValueError, match="did you mean 'GELU'") as e:
        ElementwiseLayer("gelu")
    assert e.value.where == "ElementwiseLayer"
    assert isinstance(ng.NetChain(["GELU", "SELU"], input=2)[0], ElementwiseLayer)


def test_parametric_ramp_matches_prelu_with_copied_slopes():
    ref = torch.nn.PReLU(3, init=0.1).double()
    with torch.no_grad():
        ref.weight.copy_(torch.tensor([0.1, -0.5, 2.0]))
    layer = ParametricRampLayer(input=(3, 4)).double()
    assert torch.equal(layer.Slope, torch.full((3,), 0.1).double())  # Wolfram's start
    layer.set_array("Slope", ref.weight.detach())
    x = torch.randn(5, 3, 4, dtype=F64, requires_grad=True)
    torch.testing.assert_close(layer.forward(x), ref(x))
    g = torch.randn(5, 3, 4, dtype=F64)
    ga = torch.autograd.grad(layer.forward(x), (x, layer.Slope), g)
    gb = torch.autograd.grad(ref(x), (x, ref.weight), g)
    for a, b in zip(ga, gb):
        torch.testing.assert_close(a, b)
    gradchecks(layer, torch.randn(2, 3, 4, dtype=F64))


def test_parametric_ramp_levels_fixed_slope_and_zero():
    one = ParametricRampLayer((), input=(2, 2))
    assert one.Slope.shape == ()
    np.testing.assert_allclose(one([[-1.0, 2.0], [3.0, -4.0]]), [[-0.1, 2], [3, -0.4]], rtol=1e-6)
    fixed = ParametricRampLayer(2, slope=0.3, learn_slope=False, input=(2, 3))
    assert fixed.Slope.shape == (3,) and not fixed.Slope.requires_grad
    assert NetPortGradient("Slope") not in fixed(np.ones((2, 3)), NetPortGradient(ng.All))
    trained = ng.train(ng.NetChain([fixed, ng.LinearLayer(1)]), (np.random.rand(8, 2, 3),
                       np.random.rand(8, 1)), max_training_rounds=2, progress=False)
    assert torch.equal(trained[0].Slope, torch.full((3,), 0.3))
    g = ParametricRampLayer(input=2)([0.0, -1.0], NetPortGradient("Input"))
    np.testing.assert_allclose(g, [0.1, 0.1], rtol=1e-6)  # at 0: the slope
    with pytest.raises(ng.NetValueError, match="needs the input shape"):
        ParametricRampLayer(slope=[0.1, 0.2])
    with pytest.raises(ng.ShapeError, match="level 3"):
        ParametricRampLayer(3, input=(2, 2))


def test_compile_gelu_and_parametric_ramp():
    x = torch.randn(4, 3)
    compiles_fullgraph(lambda t: ElementwiseLayer("GELU").forward(t), x)
    layer = ParametricRampLayer(input=3)
    compiles_fullgraph(lambda t, s: torch.func.functional_call(layer, {"Slope": s}, (),
                                                               {"Input": t}),
                       x, layer.Slope.detach())
