"""What the series engine for removable singularities costs when nothing is singular.

Formulas with a removable singularity at 0 (sin(x)/x, (1 - cos x)/x², x/(eˣ - 1), log1p(x)/x,
(eˣ - 1)/x) and the textbook SO(3) exponential map, forward + backward on data with no
singular element, in two ways a user writes them:

* plain torch code under ``netgrad.robust()`` against the same code under robust() with the
  series engine switched off (``_limits.recording(False)``): the price of the recipes and of
  the one check a division makes; target <= 1.05x;
* ``ElementwiseLayer(f).forward(x)`` against the same function called under robust() with the
  engine off (what the layer did before the engine existed); target <= 1.05x.

A last table shows what a singular element costs when there is one (no target: only those
elements are re-evaluated by series, so the cost is per call, not per element).

    python bench/singularities.py [--threads 1] [--sizes 1000 100000] [--rounds 9]
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import interleaved_ratio  # noqa: E402
from ops import _keep_freed_memory  # noqa: E402

import netgrad  # noqa: E402
from netgrad import ElementwiseLayer  # noqa: E402
from netgrad.ops import _limits  # noqa: E402


def _hat(w):
    z = torch.zeros_like(w[..., 0])
    return torch.stack([z, -w[..., 2], w[..., 1], w[..., 2], z, -w[..., 0],
                        -w[..., 1], w[..., 0], z], -1).reshape(*w.shape[:-1], 3, 3)


def so3_exp(w):
    theta = torch.linalg.norm(w, dim=-1, keepdim=True)[..., None]
    K = _hat(w)
    eye = torch.eye(3, dtype=w.dtype).expand_as(K)
    return eye + torch.sin(theta) / theta * K + (1 - torch.cos(theta)) / theta ** 2 * (K @ K)


FORMULAS = {
    "sin(x)/x": lambda x: torch.sin(x) / x,
    "(1 - cos x)/x^2": lambda x: (1 - torch.cos(x)) / x ** 2,
    "x/(e^x - 1)": lambda x: x / (torch.exp(x) - 1),
    "log1p(x)/x": lambda x: torch.log1p(x) / x,
    "(e^x - 1)/x": lambda x: (torch.exp(x) - 1) / x,
}


def _step(fn, x, series: bool):
    def run():
        leaf = x.detach().requires_grad_(True)
        with _limits.recording(series), _limits.limits():
            y = fn(leaf)
        torch.autograd.grad(y.sum(), leaf)
    return run


def _layer_step(layer, fn, x, series: bool):
    def run():
        leaf = x.detach().requires_grad_(True)
        if series:
            y = layer.forward(leaf)
        else:
            with _limits.recording(False), netgrad.robust():
                y = fn(leaf)
        torch.autograd.grad(y.sum(), leaf)
    return run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 100_000])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    malloc = "keep (mallopt)" if _keep_freed_memory() else "system"
    print(f"forward + backward, float32, CPU, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s), malloc {malloc}; median of {args.rounds} "
          "interleaved rounds; no singular element")
    print(f"{'formula':18} {'n':>8} {'path':16} {'off ms':>8} {'on ms':>8} {'ratio':>6}  target")
    missed = 0
    g = torch.Generator().manual_seed(0)
    for n in args.sizes:
        x = torch.rand(n, generator=g) + 0.5
        w = torch.randn(max(n // 9, 1), 3, generator=g)
        cases = [(name, f, x) for name, f in FORMULAS.items()] + [("SO(3) exp", so3_exp, w)]
        for name, f, data in cases:
            paths = [("robust() code", _step(f, data, True), _step(f, data, False))]
            if name != "SO(3) exp":
                layer = ElementwiseLayer(f)
                paths.append(("ElementwiseLayer", _layer_step(layer, f, data, True),
                              _layer_step(layer, f, data, False)))
            for path, on, off in paths:
                ratio, _, t_on, t_off = interleaved_ratio(on, off, args.rounds)
                ok = ratio <= 1.05
                missed += not ok
                print(f"{name:18} {data.numel():8d} {path:16} {t_off * 1e3:8.3f} "
                      f"{t_on * 1e3:8.3f} {ratio:6.3f}  {'ok' if ok else 'MISSED'} (<= 1.05)",
                      flush=True)
    print(f"\ntargets missed: {missed}")
    print("\nwith singular elements (x = 0 at 1 in 100 places), cost of resolving them:")
    for n in args.sizes:
        x = torch.rand(n, generator=g) + 0.5
        x[::100] = 0.0
        for name in ("sin(x)/x", "x/(e^x - 1)"):
            f = FORMULAS[name]
            ratio, _, t_on, t_off = interleaved_ratio(_step(f, x, True), _step(f, x + 1, False),
                                                      args.rounds)
            print(f"{name:18} {n:8d} {'robust() code':16} {t_off * 1e3:8.3f} {t_on * 1e3:8.3f} "
                  f"{ratio:6.3f}  (against the same size with no singular element)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
