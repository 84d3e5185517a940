"""torch.compile(fullgraph=True) on every registered rule: no graph break (fullgraph=True raises
on any), and the compiled values and gradients equal the eager ones, strong zeros included."""

from __future__ import annotations

import pytest
import torch

import netgrad
from netgrad import ops

from rule_samples import SAMPLES, exact, sample_id

# one case per rule: the most adversarial sample (the last), traced through AOT autograd
CASES = [(name, len(ss) - 1, ss[-1]) for name, ss in SAMPLES.items()]


@pytest.fixture(autouse=True)
def _exact_for_optimistic_rules(request):
    with exact(request):
        yield


def _close(a, b):
    torch.testing.assert_close(a, b, equal_nan=True, rtol=1e-6, atol=1e-7)


def _fwd_bwd(fn, args, wrt):
    xs = list(args)
    for i in wrt:
        xs[i] = args[i].detach().clone().requires_grad_()
    out = fn(*xs)
    w = torch.linspace(0.5, 1.5, out.numel(), dtype=out.dtype).reshape(out.shape)
    gs = torch.autograd.grad((out * w).sum(), [xs[i] for i in wrt])
    return out.detach(), gs


@pytest.mark.parametrize("case", CASES, ids=sample_id)
def test_compiled_equals_eager(case):
    _, _, s = case
    args, wrt = s.inputs(torch.float32)
    want = _fwd_bwd(s.call, args, wrt)
    torch._dynamo.reset()
    compiled = torch.compile(s.call, fullgraph=True, backend="aot_eager")
    got = _fwd_bwd(compiled, args, wrt)
    _close(got[0], want[0])
    for a, b in zip(got[1], want[1]):
        _close(a, b)


def _where_trap(x):
    return ops.where(x > 0, ops.sqrt(x), 0.0) + ops.where(x > 0, ops.log(x), 0.0)


def _ramp_times(x):
    r = ops.ramp(x)
    return ops.mul(r[..., 0], r[..., 1])


@pytest.mark.parametrize("fn, x", [
    (_where_trap, [-1.0, 0.0, 4.0]),
    (_ramp_times, [[4.0, -2.0], [4.0, 2.0], [-4.0, -2.0]]),
])
def test_inductor_keeps_strong_zeros(fn, x):
    x = torch.tensor(x)
    want = _fwd_bwd(fn, (x,), (0,))
    torch._dynamo.reset()
    got = _fwd_bwd(torch.compile(fn, fullgraph=True), (x,), (0,))
    _close(got[0], want[0])
    _close(got[1][0], want[1][0])
    assert torch.isfinite(got[1][0]).all()


def test_robust_block_compiles_without_breaks_and_equals_eager():
    def block(x):
        with netgrad.robust():
            y = torch.where(x > 0, torch.sqrt(x), 0.0)
            return y * torch.tanh(x) / 2.0

    x = torch.tensor([-1.0, 0.0, 4.0, 9.0])
    want = _fwd_bwd(block, (x,), (0,))
    torch._dynamo.reset()
    explained = torch._dynamo.explain(block)(x.clone().requires_grad_())
    assert explained.graph_break_count == 0, explained.break_reasons
    got = _fwd_bwd(torch.compile(block, fullgraph=True, backend="aot_eager"), (x,), (0,))
    _close(got[0], want[0])
    _close(got[1][0], want[1][0])
    assert got[1][0][0] == 0 and got[1][0][1] == 0
