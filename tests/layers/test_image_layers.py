"""ImageAugmentationLayer (random crops and flips in Train mode, centre crop in Test mode) and
SpatialTransformationLayer (against F.affine_grid/grid_sample; gradients of both ports)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import netgrad as ng
from netgrad import ImageAugmentationLayer, NetPortGradient, SpatialTransformationLayer

from _layer_testing import compiles_fullgraph, gradchecks

F64 = torch.float64


def test_test_mode_is_the_centre_crop_with_gradient_there():
    layer = ImageAugmentationLayer((2, 3), input=(1, 4, 5))
    x = np.arange(20.0).reshape(1, 4, 5)
    np.testing.assert_array_equal(layer(x), x[:, 1:3, 1:4])
    g = layer(x, NetPortGradient("Input"))
    assert g.sum() == 6 and g[:, 1:3, 1:4].all()


def test_train_mode_crops_are_windows_of_the_image_and_vary():
    torch.manual_seed(0)
    layer = ImageAugmentationLayer((2, 2), reflection_probabilities=(0.5, 0.5), input=(1, 4, 4))
    img = torch.arange(16.0).reshape(1, 1, 4, 4)
    seen = set()
    for _ in range(60):
        out = layer(img.expand(1, 1, 4, 4).clone(), mode="Train")[0, 0]
        windows = [img[0, 0, i:i + 2, j:j + 2] for i in range(3) for j in range(3)]
        assert any(torch.equal(out, w.flip(dims)) for w in windows
                   for dims in ([], [0], [1], [0, 1]) if True), out
        seen.add(tuple(out.flatten().tolist()))
    assert len(seen) > 10  # offsets and reflections vary
    batch = layer(img.expand(16, 1, 4, 4).clone(), mode="Train")
    assert len({tuple(b.flatten().tolist()) for b in batch}) > 1  # per example
    with pytest.raises(ng.ShapeError, match="must fit"):
        ImageAugmentationLayer(5, input=(1, 4, 4))


def test_spatial_transformation_matches_grid_sample():
    layer = SpatialTransformationLayer((3, 5), input=(2, 4, 6)).double()
    x = torch.randn(2, 2, 4, 6, dtype=F64)
    theta = torch.tensor([[1.0, 0.0, 0.0, 0.0, 1.0, 0.0], [0.8, 0.3, 0.1, -0.2, 0.9, -0.1]],
                         dtype=F64)
    grid = F.affine_grid(theta.reshape(2, 2, 3), [2, 2, 3, 5], align_corners=False)
    torch.testing.assert_close(layer.forward(x, theta), F.grid_sample(x, grid, align_corners=False))
    gradchecks(layer, x, theta, gradgrad=False)
    net = ng.NetInitialize(ng.NetGraph({"loc": ng.LinearLayer(6), "st": layer},
                                       [("loc", ng.NetPort("st", "Parameters"))],
                                       Input=(2, 4, 6)), seed=0)
    assert net.port_shape("Output") == (2, 3, 5)
    with pytest.raises(ng.ShapeError, match="vector of length 6"):
        ng.NetGraph({"p": ng.LinearLayer(5), "st": SpatialTransformationLayer((2, 2))},
                    [("p", ng.NetPort("st", "Parameters"))], Input=3)


def test_compile_augmentation_in_test_mode():
    layer = ImageAugmentationLayer((2, 2), input=(1, 4, 4))
    layer.eval()
    compiles_fullgraph(lambda t: layer.forward(t), torch.randn(3, 1, 4, 4))
