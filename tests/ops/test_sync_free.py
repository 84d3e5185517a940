"""The sync-free path (traced code, torch.func, non-CPU devices, forced here by
``netgrad.ops.sync_free()``): no value is read back to the host, and the results are the eager
path's, strong zeros included. Also division by a Python number."""

from __future__ import annotations

import pytest
import torch

from netgrad import ops
from netgrad.debug import count_host_syncs
from netgrad.ops import _registry

from rule_samples import SAMPLES, exact, sample_id, samples

CASES = samples()


@pytest.fixture(autouse=True)
def _exact_for_optimistic_rules(request):
    with exact(request):
        yield


def _close(a, b):
    torch.testing.assert_close(a, b, equal_nan=True, rtol=1e-12, atol=1e-14)


def _run(s, dtype, create_graph=False):
    args, wrt = s.inputs(dtype)
    xs = [a.detach().clone().requires_grad_() if i in wrt else a for i, a in enumerate(args)]
    out = s.call(*xs)
    w = torch.linspace(0.5, 1.5, out.numel(), dtype=out.dtype).reshape(out.shape)
    gs = torch.autograd.grad((out * w).sum(), [xs[i] for i in wrt], create_graph=create_graph)
    return out.detach(), [g.detach() for g in gs]


@pytest.mark.parametrize("case", CASES, ids=sample_id)
@pytest.mark.parametrize("create_graph", [False, True])
def test_sync_free_reads_nothing_back_and_agrees(case, create_graph):
    _, _, s = case
    want = _run(s, torch.float64, create_graph)
    with ops.sync_free(), count_host_syncs() as syncs:
        got = _run(s, torch.float64, create_graph)
    assert syncs.count == 0, syncs.ops
    _close(got[0], want[0])
    for a, b in zip(got[1], want[1]):
        _close(a, b)


def test_the_switch_is_scoped_and_the_eager_path_checks():
    from netgrad.ops import _mode

    assert not _mode.sync_free_active(torch.zeros(1))
    with ops.sync_free():
        assert _mode.sync_free_active(torch.zeros(1))
        with ops.sync_free(False):
            assert not _mode.sync_free_active(torch.zeros(1))
    assert not _mode.sync_free_active(torch.zeros(1))
    # the eager CPU path does read back (that is its cheap decision), so the counter sees it
    x = torch.tensor([0.0, 4.0], requires_grad=True)
    with count_host_syncs() as syncs:
        torch.autograd.grad(ops.sqrt(x).sum(), x)
    assert syncs.count >= 1


@pytest.mark.parametrize("path", ["eager", "sync_free"])
def test_division_by_zero_number_in_an_unused_branch(path):
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    ctx = ops.sync_free() if path == "sync_free" else torch.enable_grad()
    with ctx:
        y = ops.where(x > 5, ops.div(x, 0.0), x)
        (g,) = torch.autograd.grad(y.sum(), x, create_graph=True)
        (g1,) = torch.autograd.grad(ops.where(x > 5, ops.div(x, 0.0), x).sum(), x)
    assert g.tolist() == [1.0, 1.0] and g1.tolist() == [1.0, 1.0]


def test_derivative_of_division_by_a_number_keeps_float64():
    x = torch.tensor([2.0], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(ops.div(x, 3.0).sum(), x, create_graph=True)
    assert g.dtype == torch.float64 and g.item() == 1.0 / 3.0
    (g,) = torch.autograd.grad(ops.div(x, 3.0).sum(), x)
    assert g.item() == 1.0 / 3.0


def test_strong_products_of_numbers_follow_ieee():
    assert _registry.strong_div_eager(0.0, 0.0) == 0.0
    assert _registry.strong_div_free(2.0, 0.0) == float("inf")
    assert _registry.strong_mul_eager(0.0, float("inf")) == 0.0


def test_optimistic_products_give_nan_sync_free_and_are_exact_under_careful():
    # a zero input against an infinite cotangent (sqrt at 0): weight gradient 0 on the exact path
    x = torch.tensor([[0.0, 0.0], [1.0, 3.0]])
    w = torch.tensor([[1.0, 2.0]], requires_grad=True)

    def weight_grad():
        (g,) = torch.autograd.grad(ops.sqrt(ops.linear(x, w)).sum(), w)
        return g

    exact_g = weight_grad()
    # row 0 (output 0, cotangent inf) contributes 0 · inf = 0; row 1: x / (2 √7)
    torch.testing.assert_close(exact_g, torch.tensor([[1.0, 3.0]]) / (2 * 7 ** 0.5))
    with ops.sync_free(), count_host_syncs() as syncs:
        optimistic = weight_grad()
        with ops.careful():
            careful = weight_grad()
    assert syncs.count == 0, syncs.ops
    assert torch.isnan(optimistic[0, 0])            # what the trainer's guard sees, then replays
    assert torch.equal(careful, exact_g)
