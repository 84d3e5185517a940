"""ConvolutionLayer and DeconvolutionLayer: shapes, arrays, agreement with PyTorch, config."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

import netgrad
from netgrad.layers._convolution import ConvolutionLayer, DeconvolutionLayer

F64 = torch.float64


@pytest.mark.parametrize("d", [1, 2, 3])
def test_convolution_shapes_arrays_and_values(d):
    layer = ConvolutionLayer(6, 3, stride=2, padding=1, dilation=1, groups=2,
                             input=(4,) + (7,) * d).double()
    assert layer.port_shape("Output") == (6,) + (4,) * d
    assert layer.Weights.shape == (6, 2) + (3,) * d and layer.Biases.shape == (6,)
    layer = netgrad.NetInitialize(layer)
    x = torch.randn((2, 4) + (7,) * d, dtype=F64)
    conv = (F.conv1d, F.conv2d, F.conv3d)[d - 1]
    torch.testing.assert_close(layer.forward(x), conv(x, layer.Weights, layer.Biases, 2, 1, 1, 2))


def test_weights_given_fix_the_input_channels_and_no_biases():
    w = torch.randn(5, 3, 2, 2)
    layer = ConvolutionLayer(5, (2, 2), weights=w, biases=False)
    assert layer.Biases is None if hasattr(layer, "Biases") else True
    x = torch.randn(1, 3, 4, 4)
    torch.testing.assert_close(layer.forward(x), F.conv2d(x, w))
    assert layer.get_config()["biases"] is False


def test_dilation_and_rectangular_kernels():
    layer = ConvolutionLayer(2, (3, 1), dilation=(2, 1), padding=(2, 0), input=(1, 9, 5))
    assert layer.port_shape("Output") == (2, 9, 5)


@pytest.mark.parametrize("d", [1, 2])
def test_deconvolution_shapes_and_values(d):
    layer = DeconvolutionLayer(3, 4, stride=2, padding=1, input=(5,) + (6,) * d).double()
    assert layer.port_shape("Output") == (3,) + (12,) * d
    assert layer.Weights.shape == (5, 3) + (4,) * d
    layer = netgrad.NetInitialize(layer)
    x = torch.randn((2, 5) + (6,) * d, dtype=F64)
    deconv = (F.conv_transpose1d, F.conv_transpose2d)[d - 1]
    torch.testing.assert_close(layer.forward(x), deconv(x, layer.Weights, layer.Biases, 2, 1))


@pytest.mark.parametrize("layer", [
    ConvolutionLayer(4, 3), ConvolutionLayer(4, (3, 2), (1, 2), (1, 0), (2, 1), 2, input=(6, 9, 9)),
    DeconvolutionLayer(2, 2, 2, output_padding=1, input=(3, 5)),
])
def test_config_round_trips_through_json(layer):
    again = type(layer).from_config(json.loads(json.dumps(layer.get_config())))
    assert again.get_config() == layer.get_config()


def test_errors():
    with pytest.raises(netgrad.NetValueError, match="groups"):
        ConvolutionLayer(5, 3, groups=2)
    with pytest.raises(netgrad.ShapeError, match="divisible by groups"):
        ConvolutionLayer(4, 3, groups=2, input=(3, 8, 8))
    with pytest.raises(netgrad.ShapeError, match="too small"):
        ConvolutionLayer(4, 5, input=(3, 3, 3))
    with pytest.raises(netgrad.ShapeError, match="channel dimension comes first"):
        ConvolutionLayer(4, (3, 3), input=(8, 8, 8, 8))
    with pytest.raises(netgrad.NetValueError, match="no weights yet"):
        ConvolutionLayer(4, 3).forward(torch.randn(1, 2, 5))
