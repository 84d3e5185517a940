"""netgrad.ops normalization: torch's values and gradients at ordinary points (float64), the
conventions at constant slices, batches of one, eps = 0, float32 overflow, second derivatives,
torch.func and torch.compile."""

import pytest
import torch
import torch.nn.functional as F

from netgrad import ops

F64 = torch.float64


def _rand(*shape, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g, dtype=F64) * scale).requires_grad_()


# (netgrad op, torch op, input shape, per-channel or trailing-shaped arrays)
CASES = {
    "batch_norm": (lambda x, w, b, eps: ops.batch_norm(x, None, None, w, b, True, 0.1, eps),
                   lambda x, w, b, eps: F.batch_norm(x, None, None, w, b, True, 0.1, eps),
                   (4, 3, 5, 2), (3,)),
    "batch_norm_vector": (lambda x, w, b, eps: ops.batch_norm(x, None, None, w, b, True, 0.1, eps),
                          lambda x, w, b, eps: F.batch_norm(x, None, None, w, b, True, 0.1, eps),
                          (6, 3), (3,)),
    "layer_norm": (lambda x, w, b, eps: ops.layer_norm(x, (5, 2), w, b, eps),
                   lambda x, w, b, eps: F.layer_norm(x, (5, 2), w, b, eps), (4, 3, 5, 2), (5, 2)),
    "group_norm": (lambda x, w, b, eps: ops.group_norm(x, 2, w, b, eps),
                   lambda x, w, b, eps: F.group_norm(x, 2, w, b, eps), (3, 4, 5), (4,)),
    "instance_norm": (lambda x, w, b, eps: ops.instance_norm(x, None, None, w, b, eps=eps),
                      lambda x, w, b, eps: F.instance_norm(x, None, None, w, b, eps=eps),
                      (3, 4, 5), (4,)),
    "rms_norm": (lambda x, w, b, eps: ops.rms_norm(x, (5,), w, eps),
                 lambda x, w, b, eps: F.rms_norm(x, (5,), w, eps), (3, 4, 5), (5,)),
}


@pytest.mark.parametrize("name", CASES)
def test_values_and_gradients_match_torch(name):
    ours, ref, shape, arrays = CASES[name]
    x, w, b = _rand(*shape), _rand(*arrays, seed=1), _rand(*arrays, seed=2)
    if name == "rms_norm":
        b = None
    y, y_ref = ours(x, w, b, 1e-3), ref(x, w, b, 1e-3)
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
    g = torch.randn_like(y)
    leaves = [t for t in (x, w, b) if t is not None]
    for a, r in zip(torch.autograd.grad(y, leaves, g), torch.autograd.grad(y_ref, leaves, g)):
        torch.testing.assert_close(a, r, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("eps", [1e-3, 0.0])
def test_gradcheck_and_gradgradcheck(name, eps):
    ours, _, shape, arrays = CASES[name]
    x, w = _rand(*shape), _rand(*arrays, seed=1)
    b = None if name == "rms_norm" else _rand(*arrays, seed=2)
    leaves = tuple(t for t in (x, w, b) if t is not None)

    def f(*args):
        return ours(args[0], args[1], args[2] if len(args) > 2 else None, eps)
    assert torch.autograd.gradcheck(f, leaves)
    assert torch.autograd.gradgradcheck(f, leaves)


def test_running_statistics_match_torch():
    x = _rand(8, 3, 4)
    rm, rv = torch.randn(3, dtype=F64), torch.rand(3, dtype=F64) + 0.5
    rm2, rv2 = rm.clone(), rv.clone()
    ops.batch_norm(x, rm, rv, training=True, momentum=0.3, eps=1e-3)
    F.batch_norm(x, rm2, rv2, training=True, momentum=0.3, eps=1e-3)
    torch.testing.assert_close(rm, rm2, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(rv, rv2, rtol=1e-10, atol=1e-12)
    y = ops.batch_norm(x, rm, rv, training=False, eps=1e-3)  # evaluation with running stats
    torch.testing.assert_close(y, F.batch_norm(x, rm2, rv2, training=False, eps=1e-3))
    rm3, rv3 = torch.zeros(3, dtype=F64), torch.ones(3, dtype=F64)
    ops.instance_norm(x, rm3, rv3, momentum=0.5)
    rm4, rv4 = torch.zeros(3, dtype=F64), torch.ones(3, dtype=F64)
    F.instance_norm(x, rm4, rv4, momentum=0.5)
    torch.testing.assert_close((rm3, rv3), (rm4, rv4))


@pytest.mark.parametrize("eps", [1e-3, 0.0])
def test_constant_channels_and_batches_of_one_are_finite(eps):
    x = torch.full((5, 2, 3), 0.7, dtype=F64, requires_grad=True)
    w = torch.tensor([2.0, -1.0], dtype=F64, requires_grad=True)
    b = torch.tensor([0.5, 0.25], dtype=F64, requires_grad=True)
    y = ops.batch_norm(x, None, None, w, b, True, 0.1, eps)
    torch.testing.assert_close(y, b.reshape(1, 2, 1).expand_as(y).detach(), atol=1e-6, rtol=0)
    gx, gw, gb = torch.autograd.grad(y, (x, w, b), torch.randn_like(y))
    assert all(torch.isfinite(t).all() for t in (gx, gw, gb))
    if eps == 0:  # the convention: x̂ = 0 with gradient 0
        assert gx.eq(0).all() and gw.eq(0).all()
    # one value per channel (torch refuses it): finite, running variance unchanged
    one = torch.tensor([[1.5, -2.0]], dtype=F64, requires_grad=True)
    rm, rv = torch.zeros(2, dtype=F64), torch.full((2,), 3.0, dtype=F64)
    y1 = ops.batch_norm(one, rm, rv, w, b, True, 0.1, eps)
    torch.testing.assert_close(y1, b.detach().reshape(1, 2), atol=1e-12, rtol=0)
    (g1,) = torch.autograd.grad(y1.sum(), one)
    assert torch.isfinite(g1).all()
    assert rv.eq(3.0).all() and torch.allclose(rm, torch.tensor([0.15, -0.2], dtype=F64))
    with pytest.raises(ValueError):
        F.batch_norm(one, None, None, training=True)  # what torch does


def test_eps_zero_on_constant_and_zero_slices():
    z = torch.zeros(2, 4, dtype=F64, requires_grad=True)
    for f in (lambda t: ops.layer_norm(t, (4,), eps=0.0), lambda t: ops.rms_norm(t, (4,), eps=0.0),
              lambda t: ops.group_norm(t.reshape(2, 4, 1), 2, eps=0.0)):
        y = f(z)
        (g,) = torch.autograd.grad(y, z, torch.randn_like(y))
        assert y.eq(0).all() and g.eq(0).all()
    assert torch.isnan(F.layer_norm(z, (4,), eps=0.0)).all()  # what torch gives


def test_float32_overflow_is_exact_not_silently_zero():
    x = torch.randn(4, 3, 5, generator=torch.Generator().manual_seed(3)) * 1e20
    ref = F.batch_norm(x.double(), None, None, training=True, eps=1e-3)
    got = ops.batch_norm(x, None, None, training=True, eps=1e-3)
    torch.testing.assert_close(got.double(), ref, atol=1e-5, rtol=1e-5)
    assert F.batch_norm(x, None, None, training=True, eps=1e-3).eq(0).all()  # torch: all 0
    torch.testing.assert_close(ops.layer_norm(x, (5,)).double(), F.layer_norm(x.double(), (5,)),
                               atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ops.rms_norm(x, (5,)).double(), F.rms_norm(x.double(), (5,)),
                               atol=1e-5, rtol=1e-5)
    tiny = x * 1e-25 * 1e-25  # ~1e-30: with eps = 0 the squares underflow in float32
    torch.testing.assert_close(ops.rms_norm(tiny, (5,), eps=0.0).double(),
                               F.rms_norm(tiny.double(), (5,), eps=0.0), atol=1e-5, rtol=1e-5)


def test_infinite_cotangent_on_a_zero_scaling_is_a_strong_zero():
    x = _rand(4, 2, 3)
    w = torch.tensor([0.0, 1.0], dtype=F64, requires_grad=True)
    y = ops.batch_norm(x, None, None, w, None, True, 0.1, 1e-3)
    g = torch.zeros_like(y)
    g[:, 0] = torch.inf  # only where the scaling is 0: the true gradient of x is 0
    (gx,) = torch.autograd.grad(y, x, g)
    assert gx.eq(0).all()
    y_ref = F.batch_norm(x, None, None, w, None, True, 0.1, 1e-3)
    assert torch.isnan(torch.autograd.grad(y_ref, x, g)[0]).any()  # torch: NaN


def test_local_response_norm():
    x = _rand(2, 6, 3, 3)
    for size, alpha, beta, k in ((5, 1e-2, 0.75, 1.0), (4, 1.0, 0.5, 2.0)):
        torch.testing.assert_close(ops.local_response_norm(x, size, alpha, beta, k),
                                   F.local_response_norm(x, size, alpha, beta, k))
        assert torch.autograd.gradgradcheck(
            lambda t, a=(size, alpha, beta, k): ops.local_response_norm(t, *a), (x,))
    # k = 0 and an all-zero window: 0 with gradient 0 (torch: NaN)
    z = torch.zeros(1, 3, 2, dtype=F64)
    z[0, 0, 0] = 0.5
    z.requires_grad_()
    y = ops.local_response_norm(z, 1, 1.0, 0.5, 0.0)
    (g,) = torch.autograd.grad(y.sum(), z)
    assert torch.isfinite(y).all() and torch.isfinite(g).all() and y[0, 1:].eq(0).all()
    assert torch.isnan(F.local_response_norm(z, 1, 1.0, 0.5, 0.0)).any()
    xs = _rand(2, 3, 2) + 2.0
    assert torch.autograd.gradcheck(lambda t: ops.local_response_norm(t, 3, 1.0, 0.5, 0.0), (xs,))


@pytest.mark.parametrize("name", ["batch_norm", "layer_norm", "group_norm", "rms_norm"])
@pytest.mark.parametrize("eps", [1e-3, 0.0])
def test_torch_func_grad_and_vmap(name, eps):
    ours, ref, shape, arrays = CASES[name]
    x = _rand(*shape).detach().float()
    w = _rand(*arrays, seed=1).detach().float()
    ref_eps = eps or 1e-30  # torch refuses eps = 0 for batch_norm; at random points they agree

    def loss(fn, e):
        return lambda x, w: (fn(x, w, None, e) ** 2).sum()
    got = torch.func.grad(loss(ours, eps), argnums=(0, 1))(x, w)
    want = torch.func.grad(loss(ref, ref_eps), argnums=(0, 1))(x, w)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=2e-4, atol=2e-4)
    per = torch.func.vmap(lambda xi: ours(xi.unsqueeze(0), w, None, eps).squeeze(0))(x)
    torch.testing.assert_close(per, torch.stack([ref(xi.unsqueeze(0), w, None, ref_eps)[0]
                                                 for xi in x]), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["batch_norm", "group_norm"])
def test_compile_fullgraph(name):
    ours, ref, shape, arrays = CASES[name]
    x = _rand(*shape).detach().float().requires_grad_()
    w = _rand(*arrays, seed=1).detach().float().requires_grad_()
    torch._dynamo.reset()
    compiled = torch.compile(lambda x, w: ours(x, w, None, 1e-3), fullgraph=True,
                             backend="aot_eager")
    y = compiled(x, w)
    y_ref = ref(x, w, None, 1e-3)
    torch.testing.assert_close(y, y_ref)
    g = torch.randn_like(y)
    for a, b in zip(torch.autograd.grad(y, (x, w), g), torch.autograd.grad(y_ref, (x, w), g)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
