"""padding="Same" for ConvolutionLayer and PoolingLayer: ceil(size/stride) outputs, against
torch's "same" convolution and NumPy references for pooling at the borders."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import netgrad as ng
from netgrad import ConvolutionLayer, PoolingLayer

from _layer_testing import gradchecks

F64 = torch.float64


@pytest.mark.parametrize("kernel, dilation", [(3, 1), (4, 1), (3, 2), ((2, 3), 1)])
def test_convolution_same_matches_torch(kernel, dilation):
    layer = ng.NetInitialize(ConvolutionLayer(2, kernel, dilation=dilation, padding="Same",
                                              input=(3, 7, 6)), seed=0).double()
    assert layer.port_shape("Output") == (2, 7, 6)
    x = torch.randn(2, 3, 7, 6, dtype=F64)
    with pytest.warns(UserWarning) if kernel == 4 else _nothing():
        want = F.conv2d(x, layer.Weights, layer.Biases, padding="same", dilation=dilation)
    torch.testing.assert_close(layer.forward(x), want)
    gradchecks(layer, torch.randn(1, 3, 7, 6, dtype=F64), gradgrad=False)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def test_strided_same_is_ceil_of_size_over_stride():
    layer = ConvolutionLayer(1, 3, stride=2, padding="Same", input=(1, 7, 8))
    assert layer.port_shape("Output") == (1, 4, 4)
    assert ConvolutionLayer.from_config(layer.get_config()).get_config()["padding"] == "Same"


def _pool(x, k, s, fn):
    n = x.shape[-1]
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    lo = total // 2
    res = []
    for i in range(out):
        start = i * s - lo
        window = [x[j] for j in range(start, start + k) if 0 <= j < n]
        res.append(fn(window))
    return np.array(res)


@pytest.mark.parametrize("function, ref", [("Max", max), ("Mean", np.mean), ("Total", sum)])
@pytest.mark.parametrize("k, s", [(2, 2), (3, 1), (3, 2), (4, 1)])
def test_pooling_same_at_the_borders(function, ref, k, s):
    x = np.array([0.5, -1.0, 2.0, 3.5, -0.25, 1.0, 4.0])
    layer = PoolingLayer(k, s, function, padding="Same", input=(1, 7))
    assert layer.port_shape("Output") == (1, -(-7 // s))
    np.testing.assert_allclose(layer(x[None], precision="float64")[0], _pool(x, k, s, ref),
                               rtol=1e-12)


def test_power_mean_same_needs_even_padding():
    PoolingLayer(3, 1, "PowerMean", padding="Same", input=(1, 5))
    with pytest.raises(ng.ShapeError, match="even total padding"):
        PoolingLayer(2, 1, "PowerMean", padding="Same", input=(1, 5))
    with pytest.raises(ng.NetValueError, match="ConvolutionLayer"):
        ng.DeconvolutionLayer(2, 3, padding="Same")
