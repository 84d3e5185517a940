"""Training-step speed: ``netgrad.train`` against the same model in a hand-written PyTorch loop.

    python bench/train_step.py [--rounds 7] [--steps 60] [--threads 1 2] [--model mlp cnn]
                               [--no-first-call]

Models: an MLP 64-128-128-10 (ReLU; batch 64, the sklearn-digits shape) and a small CNN
(1×28×28, conv 3×3×16, ReLU, 2×2 max pool, conv 3×3×32, ReLU, 2×2 max pool, linear 10; batch
128), on random data, Adam (lr 1e-3), softmax cross-entropy. Three loops take the same steps:

* ``torch``: the torch module with netgrad's initial weights, ``F.cross_entropy``, Adam,
  ``loss.item()`` per step (the one synchronization a PyTorch loop makes);
* ``hand``: the same netgrad net in that hand-written loop (what the ops cost);
* ``netgrad.train``: everything ``netgrad.train`` does per step (the guard and its one host
  read, the loss history, the replay bookkeeping); also with ``precision="Mixed"`` (bfloat16
  autocast on CPU) beside float32.

Per step = the median interval between consecutive steps of one run (after its first steps),
so set-up is not counted. Runs are interleaved (order shuffled per round); the ratio is the
median over rounds of per-round ratios. The first call (``netgrad.train`` with one batch, in
a fresh process, minus one steady step) is compared with the first step of the torch loop in
a fresh process: both pay torch's lazy imports (building a torch optimizer imports
torch._dynamo).
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

import netgrad
from netgrad import ConvolutionLayer, LinearLayer, NetChain, PoolingLayer, SoftmaxLayer
from netgrad.train import Plugin, train

WARM = 5      # steps of each run not counted (allocator, first dispatch)


def netgrad_model(kind: str):
    if kind == "cnn":
        net = NetChain([ConvolutionLayer(16, 3), "Ramp", PoolingLayer(2, 2),
                        ConvolutionLayer(32, 3), "Ramp", PoolingLayer(2, 2),
                        LinearLayer(10), SoftmaxLayer()], input=(1, 28, 28))
    else:
        net = NetChain([LinearLayer(128), "Ramp", LinearLayer(128), "Ramp", LinearLayer(10),
                        SoftmaxLayer()], input=64)
    return netgrad.NetInitialize(net, seed=0)


def torch_model(kind: str, net) -> torch.nn.Module:
    """The equivalent torch module, with netgrad's initial weights copied in."""
    if kind == "cnn":
        model = torch.nn.Sequential(torch.nn.Conv2d(1, 16, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                    torch.nn.Conv2d(16, 32, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                    torch.nn.Flatten(), torch.nn.Linear(32 * 5 * 5, 10))
    else:
        model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 128),
                                    torch.nn.ReLU(), torch.nn.Linear(128, 10))
    arrays = [getattr(layer, name) for _, layer, name in net.named_arrays()]
    params = list(model.parameters())
    with torch.no_grad():
        for p, a in zip(params, arrays):
            p.copy_(a.reshape(p.shape))
    return model


def data(kind: str, steps: int):
    batch = 128 if kind == "cnn" else 64
    g = torch.Generator().manual_seed(0)
    n = batch * steps
    x = torch.rand(n, 1, 28, 28, generator=g) if kind == "cnn" else torch.randn(n, 64, generator=g)
    return x, torch.randint(0, 10, (n,), generator=g), batch


def _median_step(times: list[float]) -> float:
    gaps = [b - a for a, b in zip(times, times[1:])][WARM:]
    return statistics.median(gaps)


def run_torch(model, x, y, batch):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for i in range(0, x.shape[0], batch):
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x[i:i + batch]), y[i:i + batch])
        loss.backward()
        opt.step()
        loss.item()
        times.append(time.perf_counter())
    return _median_step(times)


def run_hand(net, x, y, batch):
    """The netgrad net in the hand-written loop (its probabilities, the log of the picked one)."""
    net = net.copy() if hasattr(net, "copy") else __import__("copy").deepcopy(net)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    times = []
    for i in range(0, x.shape[0], batch):
        opt.zero_grad(set_to_none=True)
        p = net.run_ports({"Input": x[i:i + batch]})["Output"]
        loss = -netgrad.ops.log(p.gather(1, y[i:i + batch, None])).mean()
        loss.backward()
        opt.step()
        loss.item()
        times.append(time.perf_counter())
    return _median_step(times)


class _Clock(Plugin):
    def __init__(self):
        self.times = []

    def after_batch(self, state):
        self.times.append(time.perf_counter())


def run_train(net, x, y, batch, precision="float32"):
    clock = _Clock()
    r = train(net, (x, y), batch_size=batch, max_training_rounds=1, learning_rate=1e-3,
              precision=precision, seed=0, progress=False, results=True, plugins=[clock])
    if r.steps != x.shape[0] // batch:
        raise SystemExit(f"netgrad.train took {r.steps} steps")
    return _median_step(clock.times)


FIRST = r"""
import sys, time
kind = sys.argv[1]
sys.path.insert(0, sys.argv[2])
import torch
torch.set_num_threads(int(sys.argv[3]))
import train_step as b
net = b.netgrad_model(kind)
x, y, batch = b.data(kind, 1)
if sys.argv[4] == "torch":
    model = b.torch_model(kind, net)
    t = time.perf_counter()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward(); opt.step(); loss.item()
else:
    t = time.perf_counter()
    b.train(net, (x, y), batch_size=batch, max_training_rounds=1, seed=0, progress=False)
print(time.perf_counter() - t)
"""


def first_call(kind: str, threads: int, repeat: int = 3) -> tuple[float, float]:
    """Median seconds of the first netgrad.train call with one batch and of the torch loop's
    first step, each in a fresh process (imports of netgrad and torch done before timing)."""
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    out = {"torch": [], "netgrad": []}
    for _ in range(repeat):
        for side in ("torch", "netgrad"):
            proc = subprocess.run([sys.executable, "-c", FIRST, kind, here, str(threads), side],
                                  capture_output=True, text=True, check=True)
            out[side].append(float(proc.stdout.strip().splitlines()[-1]))
    return statistics.median(out["netgrad"]), statistics.median(out["torch"])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--model", nargs="+", default=["mlp", "cnn"], choices=["mlp", "cnn"])
    ap.add_argument("--no-first-call", action="store_true")
    args = ap.parse_args(argv)
    print(f"netgrad {netgrad.__version__}, torch {torch.__version__}; per-step medians, "
          f"{args.rounds} interleaved rounds of {args.steps} steps")
    for kind in args.model:
        for threads in args.threads:
            torch.set_num_threads(threads)
            net = netgrad_model(kind)
            x, y, batch = data(kind, args.steps)
            model = torch_model(kind, net)
            runs = {"torch": lambda: run_torch(torch_model(kind, net), x, y, batch),
                    "hand": lambda: run_hand(net, x, y, batch),
                    "train": lambda: run_train(net, x, y, batch),
                    "mixed": lambda: run_train(net, x, y, batch, "Mixed")}
            del model
            rng = random.Random(0)
            got = {k: [] for k in runs}
            for _ in range(args.rounds):
                order = list(runs)
                rng.shuffle(order)
                for k in order:
                    got[k].append(runs[k]())
            med = {k: statistics.median(v) * 1e3 for k, v in got.items()}
            ratio = lambda a, b: statistics.median(x / y for x, y in zip(got[a], got[b]))  # noqa: E731
            print(f"{kind} (batch {batch}), {threads} thread(s): torch {med['torch']:.3f} ms, "
                  f"hand {med['hand']:.3f} ms, netgrad.train {med['train']:.3f} ms, "
                  f"mixed {med['mixed']:.3f} ms")
            print(f"  netgrad.train / torch = {ratio('train', 'torch'):.3f} (target <= 1.15); "
                  f"netgrad.train / hand = {ratio('train', 'hand'):.3f} (the trainer's own cost); "
                  f"hand / torch = {ratio('hand', 'torch'):.3f} (the ops'); "
                  f"mixed / float32 = {ratio('mixed', 'train'):.3f}")
            if not args.no_first_call:
                ng, tt = first_call(kind, threads)
                print(f"  first call, fresh process: netgrad.train(1 batch) {ng:.3f} s, torch "
                      f"loop's first step {tt:.3f} s; beyond one steady step: netgrad "
                      f"{ng - med['train'] / 1e3:.3f} s, torch {tt - med['torch'] / 1e3:.3f} s, "
                      f"difference {ng - tt:.3f} s (target <= 0.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
