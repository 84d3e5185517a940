"""The guard's one host synchronization per step, the careful replay of a bad step (in the
trainer and in a hand-written loop through netgrad.train.Guard)."""

import collections
import sys
import warnings

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import netgrad
from netgrad import ElementwiseLayer, LinearLayer, NetChain, SoftmaxLayer
from netgrad.train import Guard, NonFiniteStepWarning, Plugin, train


class HostReads(TorchDispatchMode):
    """Counts ``aten._local_scalar_dense`` (``.item()``, ``bool(t)``, ``float(t)``: a device
    synchronization on a GPU) by where it comes from: netgrad's ops, torch.optim (which reads
    its CPU-held step counters: host memory even when the arrays are on a GPU), or the rest
    (the trainer)."""

    def __init__(self):
        super().__init__()
        self.counts = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            f, kind = sys._getframe(), "trainer"
            while f is not None:
                name = f.f_code.co_filename.replace("\\", "/")
                if "/netgrad/ops/" in name:
                    kind = "ops"
                    break
                if "/torch/optim/" in name:
                    kind = "optim"
                    break
                f = f.f_back
            self.counts[kind] += 1
        return func(*args, **(kwargs or {}))


def blobs(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    return x, (x[:, 0] * x[:, 1] > 0).astype(int)


def host_reads_per_step():
    """Host reads of each training step (from one batch's end to the next's), by origin, on
    the forced sync-free path of the ops (what traced code and GPUs take)."""
    x, y = blobs()
    net = netgrad.NetInitialize(NetChain([LinearLayer(8), "Tanh", LinearLayer(2), SoftmaxLayer()],
                                         input=2), seed=0)
    per_step = []
    mode = HostReads()
    last = [{}]

    class Snapshot(Plugin):
        def after_batch(self, state):
            per_step.append({k: mode.counts[k] - last[0].get(k, 0) for k in ("trainer", "ops")})
            last[0] = dict(mode.counts)

        def after_round(self, state):         # the round's measurements are read once here
            last[0] = dict(mode.counts)
    with mode, netgrad.ops.sync_free():
        train(net, (x, y), batch_size=16, max_training_rounds=2, progress=False, seed=0,
              training_progress_measurements=["Accuracy"], plugins=[Snapshot()],
              learning_rate_schedule="Cosine", gradient_clipping={"norm": 1.0})
    diffs = per_step[1:]                      # (the first batch's count includes the set-up)
    assert len(diffs) == 7
    return diffs


def test_the_trainer_reads_the_device_once_per_step():
    diffs = host_reads_per_step()
    assert all(d["trainer"] == 1 for d in diffs), diffs        # the guard, and nothing else


def test_a_training_step_reads_the_device_once_in_total():
    diffs = host_reads_per_step()
    assert all(d["trainer"] + d["ops"] == 1 for d in diffs), diffs


def flaky_layer(bad_calls):
    """An elementwise layer whose forward gives NaN on the listed calls (a stand-in for an op
    that is optimistic on the fast path and exact on the careful one)."""
    calls = [0]

    def f(v):
        calls[0] += 1
        return v * float("nan") if calls[0] in bad_calls else v
    return ElementwiseLayer(f), calls


def test_a_bad_first_pass_is_replayed_with_the_same_random_state_and_applied():
    x, y = blobs(32)
    layer, calls = flaky_layer({3})            # the third forward (batch 3) is bad once
    net = netgrad.NetInitialize(NetChain([LinearLayer(8), layer, netgrad.DropoutLayer(0.5),
                                          LinearLayer(2), SoftmaxLayer()], input=2), seed=0)
    states = []
    net[2].register_forward_pre_hook(lambda module, args: states.append(torch.get_rng_state()))
    with warnings.catch_warnings():
        warnings.simplefilter("error")             # no NonFiniteStepWarning: it was applied
        r = train(net, (x, y), batch_size=8, max_training_rounds=1, progress=False, seed=0,
                  results=True)
    assert r.steps == 4 and not r.skipped_steps
    (rep,) = r.replayed_steps
    assert (rep.round, rep.batch, rep.kind) == (1, 3, "careful replay")
    assert "recomputed on the careful path and applied" in rep.message
    assert calls[0] == 5                             # 4 batches + 1 replay
    assert torch.equal(states[2], states[3])         # dropout drew the same mask in the replay
    assert not torch.equal(states[3], states[4])


def test_a_step_bad_on_both_passes_is_skipped():
    x, y = blobs(32)
    layer, calls = flaky_layer({3, 4})
    net = netgrad.NetInitialize(NetChain({"lin": LinearLayer(2), "f": layer, "s": SoftmaxLayer()},
                                         input=2), seed=0)
    with pytest.warns(NonFiniteStepWarning, match=r"round 1, batch 3: step skipped.*lin/Weights.*"
                                                  r"a replay on the careful path was not finite"):
        r = train(net, (x, y), batch_size=8, max_training_rounds=1, progress=False, seed=0,
                  results=True)
    assert r.steps == 3 and len(r.skipped_steps) == 1 and not r.replayed_steps


def torch_problem():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Dropout(0.3),
                                torch.nn.Linear(8, 2))
    x, y = blobs(32)
    return model, torch.as_tensor(x), torch.as_tensor(y)


def test_guard_in_a_hand_written_loop():
    model, x, y = torch_problem()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    guard = Guard(model.named_parameters())
    first = None
    for _ in range(20):
        def closure():
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            return loss
        value = guard.step(closure, opt)
        first = value if first is None else first
    assert value < first and guard.skipped == guard.replayed == 0


def test_guard_replays_from_the_same_random_state_then_skips_what_stays_bad():
    model, x, y = torch_problem()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    guard = Guard(model.named_parameters())
    draws, calls = [], [0]

    def closure():
        calls[0] += 1
        draws.append(torch.rand(3))
        loss = torch.nn.functional.cross_entropy(model(x), y)
        if calls[0] == 1:
            loss = loss * float("nan")
        loss.backward()
        return loss
    before = [p.detach().clone() for p in model.parameters()]
    assert guard.step(closure, opt) is not None         # NaN, then a finite replay: applied
    assert guard.replayed == 1 and torch.equal(draws[0], draws[1])
    assert not all(torch.equal(a, b) for a, b in zip(before, model.parameters()))

    def always_bad():
        loss = torch.nn.functional.cross_entropy(model(x), y) * float("inf")
        loss.backward()
        return loss
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.warns(NonFiniteStepWarning, match=r"Guard: step skipped.*non-finite gradients of 0.weight"):
        assert guard.step(always_bad, opt) is None
    assert guard.skipped == 1
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(p.grad is None for p in model.parameters())
