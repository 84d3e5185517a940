"""Cost of netgrad's non-finite diagnostics on a training step (issue 6).

A training step (NetPortGradient of every learned array of a net ending in a loss layer, then an
SGD update) of an MLP and of a small CNN, timed in the same run under four settings:

* ``none``: ``netgrad.debug.nonfinite("ignore")``, no check at all;
* ``default``: the always-on check (one fused reduction over the loss and the gradients);
* ``detailed``: ``netgrad.debug.detailed()`` (per-layer checks, strong-zero counters);
* ``anomaly``: ``torch.autograd.detect_anomaly()`` with netgrad's check off.

The settings are interleaved in short rounds, in a shuffled order, and the median of each is
reported, so that other work on the machine affects them alike. On a busy machine the ratios still move by several
percent from run to run, so the cost of the default check is also timed on its own (the two
reductions it adds to a step). Targets: default within 1.10x of none; detailed faster
than anomaly.

Run: ``python bench/diagnostics.py [--rounds 100] [--steps 5]``.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import time
import warnings

import torch

import netgrad
from netgrad import (CrossEntropyLossLayer, FlattenLayer, Layer, LinearLayer, NetChain,
                     NetInitialize, NetPortGradient, SoftmaxLayer)
from netgrad import debug


class Conv3x3(Layer):
    """Stand-in for ConvolutionLayer (not in the tree yet): a 3x3 same-padding convolution
    calling ``torch.nn.functional.conv2d``. Input ``(C_in, H, W)``, Output ``(C_out, H, W)``."""

    array_names = ("Weights", "Biases")

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self._setup()

    def infer_outputs(self, shapes):
        s = shapes["Input"]
        return {"Output": None if s is None else (self.channels,) + tuple(s[1:])}

    def array_shapes_for(self, shapes):
        s = shapes["Input"]
        if s is None:
            return {}
        return {"Weights": (self.channels, s[0], 3, 3), "Biases": (self.channels,)}

    def forward(self, x):
        return torch.nn.functional.conv2d(x, self.Weights, self.Biases, padding=1)


def mlp():
    return NetChain({"lin1": LinearLayer(128), "r1": "Ramp", "lin2": LinearLayer(128),
                     "r2": "Ramp", "lin3": LinearLayer(10), "sm": SoftmaxLayer(),
                     "loss": CrossEntropyLossLayer("Index")}, input=64)


def cnn():
    return NetChain({"c1": Conv3x3(8), "r1": "Ramp", "c2": Conv3x3(16), "r2": "Ramp",
                     "flat": FlattenLayer(), "lin": LinearLayer(10), "sm": SoftmaxLayer(),
                     "loss": CrossEntropyLossLayer("Index")}, input=(1, 12, 12))


def make_step(net, batch: int, gen: torch.Generator):
    shape = net.port_shape("Input")
    x = torch.randn((batch,) + shape, generator=gen)
    y = torch.randint(0, 10, (batch,), generator=gen)
    specs = [NetPortGradient(path) for path, _, _ in net.named_arrays()]
    params = [getattr(layer, name) for _, layer, name in net.named_arrays()]
    opt = torch.optim.SGD(params, lr=1e-3)

    def step():
        grads = net({"Input": x, "Target": y}, specs, mode="Train")
        for p, g in zip(params, grads.values()):
            p.grad = g
        opt.step()

    def check_only():  # the work the default check adds to a step (without the re-run)
        loss = net({"Input": x, "Target": y}, mode="Train")
        grads = net({"Input": x, "Target": y}, specs, mode="Train")
        return lambda: (debug.all_finite([loss]), debug.all_finite(grads.values()))

    step.check_only = check_only
    return step


SETTINGS = {
    "none": lambda: debug.nonfinite("ignore"),
    "default": contextlib.nullcontext,
    "detailed": debug.detailed,
    "anomaly": lambda: _anomaly(),
}


@contextlib.contextmanager
def _anomaly():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.autograd.detect_anomaly(), debug.nonfinite("ignore"):
            yield


def bench(name: str, net, batch: int, rounds: int, steps: int) -> dict[str, float]:
    step = make_step(net, batch, torch.Generator().manual_seed(0))
    for setting in SETTINGS.values():  # warm up
        with setting():
            for _ in range(3):
                step()
    times: dict[str, list[float]] = {k: [] for k in SETTINGS}
    order = list(SETTINGS)
    shuffle = random.Random(0).shuffle
    for _ in range(rounds):
        shuffle(order)  # no setting always runs first (or right after the slow one)
        for key in order:
            with SETTINGS[key]():
                t0 = time.perf_counter()
                for _ in range(steps):
                    step()
                times[key].append((time.perf_counter() - t0) / steps)
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["none"]
    check = step.check_only()
    n = 2000
    t0 = time.perf_counter()
    for _ in range(n):
        check()
    cost = (time.perf_counter() - t0) / n
    print(f"{name} (batch {batch}): " + ", ".join(
        f"{k} {v * 1e3:.3f} ms ({v / base:.3f}x)" for k, v in med.items()))
    print(f"  default / none = {med['default'] / base:.3f} (target <= 1.10); "
          f"detailed / anomaly = {med['detailed'] / med['anomaly']:.3f} (target < 1)")
    print(f"  the default check alone, timed in isolation: {cost * 1e6:.1f} us per step "
          f"= {cost / base:.3f} of the unchecked step")
    return med


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"netgrad {netgrad.__version__}, torch {torch.__version__}, "
          f"{args.threads} thread(s), median of {args.rounds} rounds x {args.steps} steps")
    bench("MLP 64-128-128-10", NetInitialize(mlp(), seed=0), 64, args.rounds, args.steps)
    bench("CNN 1x12x12, conv 8, conv 16", NetInitialize(cnn(), seed=0), 32, args.rounds,
          args.steps)


if __name__ == "__main__":
    main()
