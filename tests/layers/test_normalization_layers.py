"""BatchNormalizationLayer, NormalizationLayer, LocalResponseNormalizationLayer against torch's
modules with copied weights (float64), NumPy for the general levels, adversarial points."""

import numpy as np
import pytest
import torch

import netgrad as ng
from netgrad import (BatchNormalizationLayer, LocalResponseNormalizationLayer, NetChain,
                     NetPortGradient, NormalizationLayer)

from _layer_testing import call, compiles_fullgraph, func_grad_and_vmap, gradchecks

F64 = torch.float64
RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _copy(layer, module, names=("Scaling", "Biases")):
    layer = layer.double()
    for ours, theirs in zip(names, ("weight", "bias")):
        layer.set_array(ours, getattr(module, theirs).detach())
    return layer


def test_batch_normalization_matches_batchnorm2d_in_both_modes():
    ref = torch.nn.BatchNorm2d(3, eps=1e-3, momentum=0.1).double()
    with torch.no_grad():
        ref.weight.uniform_(0.5, 2)
        ref.bias.normal_()
    layer = _copy(BatchNormalizationLayer(input=(3, 4, 5)), ref)
    x = torch.randn(6, 3, 4, 5, dtype=F64)
    layer.train(), ref.train()
    for _ in range(3):  # moving statistics follow torch's running statistics
        torch.testing.assert_close(layer.forward(x), ref(x))
        x = x * 1.5 + 0.25
    torch.testing.assert_close(layer.MovingMean, ref.running_mean)
    torch.testing.assert_close(layer.MovingVariance, ref.running_var)
    layer.eval(), ref.eval()
    ref.running_mean.copy_(layer.MovingMean)
    ref.running_var.copy_(layer.MovingVariance)
    torch.testing.assert_close(layer.forward(x), ref(x))
    g = torch.randn_like(x)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    (ga,) = torch.autograd.grad(layer.forward(xa), xa, g)
    (gb,) = torch.autograd.grad(ref(xb), xb, g)
    torch.testing.assert_close(ga, gb)


def test_batch_normalization_modes_in_evaluation_and_gradients():
    layer = BatchNormalizationLayer(0.5, input=2)
    x = np.array([[1.0, 2.0], [3.0, 6.0]])
    np.testing.assert_allclose(layer(x), x / np.sqrt(1 + 1e-3), rtol=1e-6)  # Test mode
    train = layer(x, mode="Train")
    np.testing.assert_allclose(train, [[-1, -1], [1, 1]], rtol=1e-3)
    np.testing.assert_allclose(layer.MovingMean.detach(), [1.0, 2.0])  # 0.5·0 + 0.5·mean
    np.testing.assert_allclose(layer.MovingVariance.detach(), [1.5, 4.5], rtol=1e-6)
    grads = layer(x, NetPortGradient(ng.All))
    assert set(grads) == {NetPortGradient(n) for n in ("Input", "Scaling", "Biases")}
    assert not layer.MovingMean.requires_grad
    with pytest.raises(ng.NetValueError, match="fixed"):
        layer(x, NetPortGradient("MovingMean"))


def test_batch_normalization_constant_channels_and_a_batch_of_one():
    layer = BatchNormalizationLayer(input=(2, 3)).double()
    layer.train()
    const = torch.full((4, 2, 3), 2.5, dtype=F64, requires_grad=True)
    y = layer.forward(const)
    (g,) = torch.autograd.grad((y * torch.randn_like(y)).sum(), const)
    assert torch.isfinite(g).all()
    torch.testing.assert_close(y, torch.zeros_like(y), atol=1e-6, rtol=0)
    one = ng.BatchNormalizationLayer(input=3)
    before = one.MovingVariance.detach().clone()
    g1 = one([0.5, -1.0, 2.0], NetPortGradient("Input"), mode="Train")
    assert np.isfinite(g1).all()
    assert torch.equal(one.MovingVariance.detach(), before)


def test_batch_normalization_trains_and_keeps_moving_statistics_out_of_the_optimizer():
    xs = RNG.normal(2.0, 3.0, size=(64, 3)).astype("float32")
    ys = (xs.sum(1) > 6).astype(int)
    net = NetChain([BatchNormalizationLayer(), ng.LinearLayer(2), ng.SoftmaxLayer()], input=3)
    trained = ng.train(net, (xs, ys), max_training_rounds=3, batch_size=16, seed=0,
                       progress=False)
    mm = trained[0].MovingMean.detach().numpy()
    assert np.allclose(mm, xs.mean(0), atol=1.5) and not np.allclose(mm, 0)
    assert not trained[0].MovingMean.requires_grad and trained[0].Scaling.requires_grad


@pytest.mark.parametrize("make, module, shape", [
    (lambda: NormalizationLayer("2;;", input=(4, 3, 5)), lambda: torch.nn.GroupNorm(4, 4, 1e-3),
     (4, 3, 5)),
    (lambda: NormalizationLayer("1;;", 1, group_number=[2, 1, 1], input=(4, 3, 5)),
     lambda: torch.nn.GroupNorm(2, 4, 1e-3), (4, 3, 5)),
    (lambda: NormalizationLayer("2;;", "Same", input=(4, 3, 5)),
     lambda: torch.nn.LayerNorm((3, 5), 1e-3), (4, 3, 5)),
    (lambda: NormalizationLayer(1, "Same", input=6), lambda: torch.nn.LayerNorm(6, 1e-3), (6,)),
    (lambda: NormalizationLayer(-1, "Same", method="RMS", biases=False, input=(2, 6)),
     lambda: torch.nn.RMSNorm(6, 1e-3), (2, 6)),
])
def test_normalization_layer_matches_torch_modules(make, module, shape):
    ref = module().double()
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_()
    layer = make().double()
    layer.set_array("Scaling", ref.weight.detach())
    if "Biases" in layer.array_names:
        layer.set_array("Biases", ref.bias.detach())
    x = torch.randn(3, *shape, dtype=F64, requires_grad=True)
    torch.testing.assert_close(layer.forward(x), ref(x))
    g = torch.randn(3, *shape, dtype=F64)
    ga = torch.autograd.grad(layer.forward(x), [x, layer.Scaling], g)
    gb = torch.autograd.grad(ref(x), [x, ref.weight], g)
    for a, b in zip(ga, gb):
        torch.testing.assert_close(a, b)


def _numpy_norm(x, axes, eps, ddof=0):
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True, ddof=ddof)
    return (x - mu) / np.sqrt(var + eps)


@pytest.mark.parametrize("unbiased", [False, True])
def test_normalization_layer_general_levels_against_numpy(unbiased):
    x = RNG.normal(size=(2, 3, 4, 5))
    layer = NormalizationLayer((1, 3), 2, unbiased=unbiased, input=(3, 4, 5))
    assert layer.Scaling.shape == (4,)
    w, b = RNG.normal(size=4), RNG.normal(size=4)
    layer.set_array("Scaling", w)
    layer.set_array("Biases", b)
    want = _numpy_norm(x, (1, 3), 1e-3, ddof=int(unbiased)) * w[:, None] + b[:, None]
    np.testing.assert_allclose(layer(x, precision="float64"), want, rtol=1e-6, atol=1e-6)
    groups = NormalizationLayer(2, "Complement", group_number=2, input=(3, 4, 5))
    xg = x.reshape(2, 3, 2, 2, 5)
    want = _numpy_norm(xg, (3,), 1e-3).reshape(x.shape)
    np.testing.assert_allclose(groups(x, precision="float64"), want, rtol=1e-6, atol=1e-6)


def test_normalization_layer_constant_inputs_give_finite_gradients():
    for eps in (1e-3, 0.0):
        layer = NormalizationLayer("1;;", input=(2, 3), epsilon=eps)
        g = layer(np.full((2, 3), 4.0), NetPortGradient(ng.All))
        assert all(np.isfinite(v).all() for v in g.values())
        if eps == 0:
            assert not g[NetPortGradient("Input")].any()


def test_local_response_normalization_matches_torch():
    ref = torch.nn.LocalResponseNorm(5, alpha=0.5, beta=0.75, k=2.0)
    layer = LocalResponseNormalizationLayer(alpha=0.5, beta=0.75, bias=2.0, input=(7, 3, 2))
    x = torch.randn(2, 7, 3, 2, dtype=F64)
    torch.testing.assert_close(layer.forward(x), ref(x))
    v = LocalResponseNormalizationLayer(channel_window_size=1, bias=0.0, input=4)
    out = v([0.0, 0.0, 0.0, 3.0], NetPortGradient("Input"))
    assert np.isfinite(out).all()
    np.testing.assert_allclose(v([1.0, 0.0, 0.0, 0.0]), [3 ** 0.5, 0, 0, 0], rtol=1e-6)


@pytest.mark.parametrize("make, shape", [
    (lambda: BatchNormalizationLayer(input=(2, 3)), (4, 2, 3)),
    (lambda: NormalizationLayer(input=(2, 3)), (2, 2, 3)),
    (lambda: NormalizationLayer((1, 2), 1, unbiased=True, input=(2, 3, 2)), (2, 2, 3, 2)),
    (lambda: NormalizationLayer(1, method="RMS", input=4), (3, 4)),
    (lambda: LocalResponseNormalizationLayer(input=(5, 2)), (2, 5, 2)),
])
def test_gradchecks(make, shape):
    layer = make().double()
    layer.train(isinstance(layer, BatchNormalizationLayer))
    with torch.no_grad():
        for p in layer.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.3)
    gradchecks(layer, torch.randn(shape, dtype=F64))


def test_bad_arguments():
    cases = [
        (lambda: BatchNormalizationLayer(momentum=1.5), ng.NetValueError, "momentum"),
        (lambda: BatchNormalizationLayer(epsilon=-1), ng.NetValueError, "epsilon"),
        (lambda: BatchNormalizationLayer(input=()), ng.ShapeError, "channels first"),
        (lambda: NormalizationLayer(method="L2"), ng.NetValueError, "method"),
        (lambda: NormalizationLayer(input=5), ng.ShapeError, "select no dimension"),
        (lambda: NormalizationLayer(1, group_number=3, input=(4, 2)), ng.ShapeError,
         "groups of equal size"),
        (lambda: NormalizationLayer(2, unbiased=True, input=(3, 1)), ng.ShapeError, "unbiased"),
        (lambda: LocalResponseNormalizationLayer(channel_window_size=-1), ng.NetValueError,
         "channel_window_size"),
    ]
    for make, kind, text in cases:
        with pytest.raises(kind, match=text) as e:
            make()
        assert e.value.where and e.value.got


def test_torch_func_and_compile_on_batch_normalization():
    layer = BatchNormalizationLayer(input=(3, 4)).double()
    layer.eval()
    x = torch.randn(5, 3, 4, dtype=F64)
    func_grad_and_vmap(layer, x)
    layer.train()
    params = {n: p.detach() for n, p in layer.named_parameters()}

    def f(x, s):
        return call(layer, {**params, "Scaling": s}, x)
    compiles_fullgraph(f, x, params["Scaling"])
