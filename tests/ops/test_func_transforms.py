"""torch.func on every registered rule: grad, vmap(grad), jacrev, jacfwd and hessian agree with
autograd (eager, create_graph), at regular and adversarial points, strong zeros included."""

from __future__ import annotations

import pytest
import torch
from torch.func import grad, hessian, jacfwd, jacrev, vmap

from netgrad.ops import _registry

from rule_samples import SAMPLES, exact, sample_id, samples

CASES = samples()


@pytest.fixture(autouse=True)
def _exact_for_optimistic_rules(request):
    with exact(request):
        yield


def test_every_rule_has_samples():
    missing = sorted(set(_registry.RULES) - set(SAMPLES))
    assert not missing, f"rules without samples in tests/ops/rule_samples.py: {missing}"


def _close(a, b):
    torch.testing.assert_close(a, b, equal_nan=True, rtol=1e-10, atol=1e-12)


def _split(sample, dtype):
    args, wrt = sample.inputs(dtype)
    out = sample.call(*args)
    w = torch.linspace(0.5, 1.5, out.numel(), dtype=out.dtype).reshape(out.shape)

    def f(*diff):
        full = list(args)
        for i, v in zip(wrt, diff):
            full[i] = v
        return sample.call(*full)

    def scalar(*diff):
        return (f(*diff) * w).sum()

    return args, wrt, f, scalar, [args[i] for i in wrt]


def _autograd(scalar, diff, create_graph=False):
    xs = [d.detach().clone().requires_grad_() for d in diff]
    gs = torch.autograd.grad(scalar(*xs), xs, create_graph=create_graph)
    return xs, gs


@pytest.mark.parametrize("case", CASES, ids=sample_id)
def test_grad_matches_autograd(case):
    _, _, s = case
    _, wrt, _, scalar, diff = _split(s, torch.float64)
    _, want = _autograd(scalar, diff)
    got = grad(scalar, argnums=tuple(range(len(diff))))(*diff)
    for a, b in zip(got, want):
        _close(a, b)


@pytest.mark.parametrize("case", CASES, ids=sample_id)
def test_jacfwd_matches_jacrev(case):
    _, _, s = case
    _, _, f, _, diff = _split(s, torch.float64)
    argnums = tuple(range(len(diff)))
    rev = jacrev(f, argnums=argnums)(*diff)
    fwd = jacfwd(f, argnums=argnums)(*diff)
    for a, b in zip(fwd, rev):
        _close(a, b)


@pytest.mark.parametrize("case", CASES, ids=sample_id)
def test_vmap_grad_is_per_example(case):
    _, _, s = case
    _, _, _, scalar, diff = _split(s, torch.float64)
    if not diff:
        pytest.skip("nothing to differentiate")
    first = diff[0]
    batch = torch.stack([first, first.flip(-1) if first.dim() else first * 0.5])
    per = vmap(grad(lambda v, *rest: scalar(v, *rest)), in_dims=(0, *([None] * (len(diff) - 1))))
    got = per(batch, *diff[1:])
    for k in range(2):
        want = grad(scalar)(batch[k], *diff[1:])
        _close(got[k], want)


@pytest.mark.parametrize("case", [c for c in CASES if c[2].second], ids=sample_id)
def test_hessian_matches_double_backward(case):
    _, _, s = case
    _, _, _, scalar, diff = _split(s, torch.float64)
    x0, rest = diff[0], diff[1:]

    def of_first(v):
        return scalar(v, *rest)

    got = hessian(of_first)(x0)
    x = x0.detach().clone().requires_grad_()
    (g,) = torch.autograd.grad(of_first(x), x, create_graph=True)
    rows = []
    for k in range(g.numel() if g.requires_grad else 0):
        (h,) = torch.autograd.grad(g.reshape(-1)[k], x, retain_graph=True, allow_unused=True)
        rows.append(torch.zeros_like(x) if h is None else h)
    want = torch.stack(rows).reshape(*x.shape, *x.shape) if rows else \
        torch.zeros(*x.shape, *x.shape, dtype=x.dtype)
    _close(got, want)


def test_functional_call_per_example_gradients_of_a_module():
    from torch.func import functional_call

    from netgrad import ops

    lin = torch.nn.Linear(3, 1).double()
    params = {k: v.detach() for k, v in lin.named_parameters()}
    xs = torch.tensor([[1.0, -2.0, 0.5], [0.0, 0.0, 0.0], [3.0, 1.0, -1.0]], dtype=torch.float64)

    def loss(p, x):
        z = functional_call(lin, p, (x,))
        return ops.where(z > 0, ops.sqrt(z), 0.0).sum()

    per = vmap(grad(loss), in_dims=(None, 0))(params, xs)
    for k in range(3):
        for name, p in lin.named_parameters():
            p.grad = None
        x = xs[k]
        z = lin(x)
        with torch.no_grad():
            pass
        g = torch.autograd.grad(ops.where(z > 0, ops.sqrt(z), 0.0).sum(), list(lin.parameters()))
        for (name, _), want in zip(lin.named_parameters(), g):
            _close(per[name][k], want)
