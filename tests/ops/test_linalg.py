"""linear: torch's values and gradients, plus strong zeros in the weight and input gradients."""

import pytest
import torch

from netgrad import ops

F64 = torch.float64


def test_linear_matches_torch_and_passes_gradcheck():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 3, 4, generator=g, dtype=F64, requires_grad=True)
    w = torch.randn(2, 4, generator=g, dtype=F64, requires_grad=True)
    b = torch.randn(2, generator=g, dtype=F64, requires_grad=True)
    torch.testing.assert_close(ops.linear(x, w, b), torch.nn.functional.linear(x, w, b))
    assert torch.autograd.gradcheck(ops.linear, (x, w, b))
    assert torch.autograd.gradgradcheck(ops.linear, (x, w, b))
    assert torch.autograd.gradcheck(lambda v, m: ops.linear(v, m), (x[0, 0], w))


@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("create_graph", [False, True])
def test_zero_input_kills_an_infinite_cotangent_in_the_weight_gradient(dtype, create_graph):
    # sqrt(W x + b) at W x + b = 0 with x = 0: the output does not depend on W, gradient 0
    x = torch.tensor([[0.0, 0.0], [1.0, 2.0]], dtype=dtype)
    w = torch.zeros(1, 2, dtype=dtype, requires_grad=True)
    b = torch.zeros(1, dtype=dtype, requires_grad=True)
    cot = torch.tensor([[float("inf")], [1.0]], dtype=dtype)
    y = ops.linear(x, w, b)
    gw, gb = torch.autograd.grad(y, (w, b), cot, create_graph=create_graph)
    assert gw.tolist() == [[1.0, 2.0]]        # the first example contributes 0·∞ = 0
    assert gb.tolist() == [float("inf")]      # a true infinity stays infinite
    naive_w = torch.zeros(1, 2, dtype=dtype, requires_grad=True)
    (tw,) = torch.autograd.grad(torch.nn.functional.linear(x, naive_w, b.detach()), naive_w, cot)
    assert torch.isnan(tw).all()              # what plain torch gives


def test_zero_cotangent_kills_an_infinite_weight_in_the_input_gradient():
    x = torch.ones(1, 2, dtype=F64, requires_grad=True)
    w = torch.tensor([[float("inf"), 1.0], [2.0, 3.0]], dtype=F64)
    (gx,) = torch.autograd.grad(ops.linear(x, w), x, torch.tensor([[0.0, 1.0]], dtype=F64))
    assert gx.tolist() == [[2.0, 3.0]]


def test_strong_zero_path_in_chunks_matches_the_plain_product():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(7, 300, generator=g, dtype=F64)
    b = torch.randn(300, 5, generator=g, dtype=F64)
    from netgrad.ops import _linalg
    old = _linalg._CHUNK_ELEMENTS
    _linalg._CHUNK_ELEMENTS = 7 * 5 * 16  # force many chunks
    try:
        torch.testing.assert_close(_linalg._strong_zero_mm(a, b), a @ b)
    finally:
        _linalg._CHUNK_ELEMENTS = old


def test_layer_then_sqrt_at_zero_has_no_nan_weight_gradient():
    import netgrad as ng
    net = ng.NetChain([ng.LinearLayer(1, weights=[[1.0, -1.0]], biases=[0.0]), "Sqrt"])
    with ng.debug.nonfinite("ignore"):  # the Biases gradient is a true +inf (reported otherwise)
        grads = net([0.0, 0.0], ng.NetPortGradient(ng.All))
    w = grads[ng.NetPortGradient(("0", "Weights"))]
    assert (w == 0).all()
    assert grads[ng.NetPortGradient(("0", "Biases"))][0] == float("inf")  # the true infinity


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_linear_in_robust_mode_routes_here(dtype):
    x = torch.zeros(1, 2, dtype=dtype)
    w = torch.zeros(1, 2, dtype=dtype, requires_grad=True)
    with ops.robust():
        y = torch.nn.functional.linear(x, w)
    (gw,) = torch.autograd.grad(y, w, torch.full_like(y, float("inf")))
    assert (gw == 0).all()


@pytest.mark.parametrize("sa, sb", [((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)), ((4, 2, 3), (3, 5)),
                                    ((2, 1, 2, 3), (4, 3, 2)), ((2, 3), (3, 4))])
def test_matmul_matches_torch_for_every_rank_and_passes_gradcheck(sa, sb):
    g = torch.Generator().manual_seed(2)
    a = torch.randn(sa, generator=g, dtype=F64, requires_grad=True)
    b = torch.randn(sb, generator=g, dtype=F64, requires_grad=True)
    torch.testing.assert_close(ops.matmul(a, b), torch.matmul(a, b))
    assert torch.autograd.gradcheck(ops.matmul, (a, b))
    assert torch.autograd.gradgradcheck(ops.matmul, (a, b))


@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("create_graph", [False, True])
def test_matmul_strong_zeros_in_batched_products(dtype, create_graph):
    # a zero column of a meets an infinite cotangent: that entry of b's gradient is 0, not NaN;
    # the differentiable backward (create_graph) gives the same values as the first-order one
    a = torch.tensor([[[0.0, 1.0]], [[2.0, 0.0]]], dtype=dtype, requires_grad=True)   # (2, 1, 2)
    b = torch.tensor([[1.0], [3.0]], dtype=dtype, requires_grad=True)                 # (2, 1)
    y = ops.matmul(a, b)                                                              # (2, 1, 1)
    cot = torch.tensor([[[float("inf")]], [[1.0]]], dtype=dtype)
    ga, gb = torch.autograd.grad(y, (a, b), cot, create_graph=create_graph)
    assert gb.tolist() == [[2.0], [float("inf")]]   # (0·∞ = 0) + 2·1 ; 1·∞ + 0·1
    assert ga.tolist() == [[[float("inf"), float("inf")]], [[1.0, 3.0]]]
    with ops.robust():
        y2 = a @ b
    ga2, gb2 = torch.autograd.grad(y2, (a, b), cot)
    assert torch.equal(gb2, gb.detach()) and torch.equal(ga2, ga.detach())
