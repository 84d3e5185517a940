"""PaddingLayer against numpy.pad (Fixed, Reflected, Periodic; wider than the array; borders)
and F.pad; ResizeLayer against F.interpolate; gradients, errors, compile."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import netgrad as ng
from netgrad import NetPortGradient, PaddingLayer, ResizeLayer

from _layer_testing import compiles_fullgraph, gradchecks

F64 = torch.float64
RNG = np.random.default_rng(0)
NUMPY = {"Fixed": "constant", "Reflected": "reflect", "Periodic": "wrap"}


@pytest.mark.parametrize("mode", sorted(NUMPY))
@pytest.mark.parametrize("padding", [[(0, 0), (1, 2), (2, 1)], [(1, 1)], [(0, 0), (0, 0), (9, 4)],
                                     [(2, 1), (3, 0), (1, 1)], [0, (0, 5)]])
def test_padding_matches_numpy_pad(mode, padding):
    x = RNG.normal(size=(2, 3, 4, 2))
    layer = PaddingLayer(padding, mode, input=(3, 4, 2))
    pairs = [(p, p) if isinstance(p, int) else p for p in padding]
    want = np.pad(x, [(0, 0)] + pairs + [(0, 0)] * (3 - len(pairs)), mode=NUMPY[mode])
    assert layer.port_shape("Output") == want.shape[1:]
    np.testing.assert_array_equal(layer(x, precision="float64"), want)


def test_border_elements_collect_the_gradient_of_every_copy():
    ones = np.ones(3)
    g = PaddingLayer([(2, 2)], "Reflected", input=3)(ones, NetPortGradient("Input"))
    np.testing.assert_array_equal(g, [2, 3, 2])  # [x2 x1 | x0 x1 x2 | x1 x0]
    g = PaddingLayer([(2, 2)], "Periodic", input=3)(ones, NetPortGradient("Input"))
    np.testing.assert_array_equal(g, [2, 3, 2])  # [x1 x2 | x0 x1 x2 | x0 x1]
    g = PaddingLayer([(3, 0)], "Periodic", input=3)(ones, NetPortGradient("Input"))
    np.testing.assert_array_equal(g, [2, 2, 2])  # a whole period in front
    g = PaddingLayer([(2, 2)], 7.0, input=3)(ones, NetPortGradient("Input"))
    np.testing.assert_array_equal(g, [1, 1, 1])  # the constant has no gradient


@pytest.mark.parametrize("mode", sorted(NUMPY))
def test_gradcheck_and_agreement_with_f_pad(mode):
    layer = PaddingLayer([(0, 0), (1, 2), (2, 0)], mode, input=(2, 3, 4)).double()
    gradchecks(layer, torch.randn(2, 2, 3, 4, dtype=F64))
    x = torch.randn(2, 2, 3, 4, dtype=F64)
    torch_mode = {"Fixed": "constant", "Reflected": "reflect", "Periodic": "circular"}[mode]
    torch.testing.assert_close(layer.forward(x), F.pad(x, (2, 0, 1, 2), mode=torch_mode))


def test_padding_errors():
    with pytest.raises(ng.NetValueError, match="padding_mode"):
        PaddingLayer([1], "Mirror")
    with pytest.raises(ng.ShapeError, match="more than the input has"):
        PaddingLayer([1, 1, 1], input=(2, 2))
    with pytest.raises(ng.NetValueError, match="non-negative"):
        PaddingLayer([(-1, 0)])
    with pytest.raises(ng.NetTypeError, match="one \\(before, after\\) pair"):
        PaddingLayer(3)


@pytest.mark.parametrize("shape, resampling, mode", [
    ((5, 7), "Linear", "bilinear"), ((2, 2), "Linear", "bilinear"), ((6, 3), "Nearest", "nearest"),
    ((9,), "Linear", "linear"), ((2, 3, 4), "Linear", "trilinear")])
def test_resize_matches_interpolate(shape, resampling, mode):
    spatial = {1: (4,), 2: (4, 5), 3: (3, 3, 2)}[len(shape)]
    layer = ResizeLayer(shape, resampling, input=(2,) + spatial).double()
    assert layer.port_shape("Output") == (2,) + shape
    x = torch.randn(3, 2, *spatial, dtype=F64)
    kw = {} if mode == "nearest" else {"align_corners": False}
    torch.testing.assert_close(layer.forward(x), F.interpolate(x, size=shape, mode=mode, **kw))
    gradchecks(layer, torch.randn(1, 2, *spatial, dtype=F64), gradgrad=mode != "nearest")


def test_resize_errors_and_compile():
    with pytest.raises(ng.ShapeError, match="2 spatial dimensions"):
        ResizeLayer((4, 4), input=(4, 4))
    with pytest.raises(ng.NetValueError, match="resampling"):
        ResizeLayer((4, 4), "Cubic")
    layer = ResizeLayer((6, 6), input=(1, 3, 3))
    compiles_fullgraph(lambda t: layer.forward(t), torch.randn(2, 1, 3, 3))
    pad = PaddingLayer([(0, 0), (1, 1), (1, 1)], "Reflected", input=(1, 3, 3))
    compiles_fullgraph(lambda t: pad.forward(t), torch.randn(2, 1, 3, 3))
