"""convolution / deconvolution: dispatch on the weights' rank to PyTorch's kernels."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import netgrad
from netgrad import ops

F64 = torch.float64


@pytest.mark.parametrize("d", [1, 2, 3])
def test_convolution_matches_pytorch_with_stride_padding_dilation_groups(d):
    g = torch.Generator().manual_seed(d)
    x = torch.randn((2, 4) + (7,) * d, generator=g, dtype=F64, requires_grad=True)
    w = torch.randn((6, 2) + (3,) * d, generator=g, dtype=F64, requires_grad=True)
    b = torch.randn(6, generator=g, dtype=F64, requires_grad=True)
    conv = (F.conv1d, F.conv2d, F.conv3d)[d - 1]
    y = ops.convolution(x, w, b, 2, 1, 2, 2)
    torch.testing.assert_close(y, conv(x, w, b, 2, 1, 2, 2))
    assert torch.autograd.gradcheck(lambda x, w, b: ops.convolution(x, w, b, 2, 1, 2, 2),
                                    (x, w, b)) if d < 3 else True


@pytest.mark.parametrize("d", [1, 2, 3])
def test_deconvolution_matches_pytorch(d):
    g = torch.Generator().manual_seed(10 + d)
    x = torch.randn((2, 4) + (4,) * d, generator=g, dtype=F64, requires_grad=True)
    w = torch.randn((4, 3) + (3,) * d, generator=g, dtype=F64, requires_grad=True)
    deconv = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[d - 1]
    y = ops.deconvolution(x, w, None, 2, 1, 1)
    torch.testing.assert_close(y, deconv(x, w, None, 2, 1, 1))
    if d == 1:
        assert torch.autograd.gradgradcheck(lambda x, w: ops.deconvolution(x, w, None, 2, 1, 1),
                                            (x, w))


def test_unbatched_input_and_errors():
    w = torch.randn(5, 3, 3, 3)
    assert ops.convolution(torch.randn(3, 8, 8), w).shape == (5, 6, 6)
    with pytest.raises(netgrad.ShapeError, match="3 channels"):
        ops.convolution(torch.randn(1, 4, 8, 8), w)
    with pytest.raises(ValueError, match="1, 2 or 3 spatial"):
        ops.convolution(torch.randn(1, 3, 8), torch.randn(5, 3))
    with pytest.raises(ValueError, match="2 spatial dims"):
        ops.convolution(torch.randn(3, 8), w)
