"""Forward + backward of LP pooling with a learned (tensor) p, against PyTorch.

    python bench/pooling.py [--repeats 5] [--shape 32 64 56 56] [--kernel 2] [--stride 2]

Three contenders on the same float32 input, timed in the same run (interleaved, median of
``--repeats``):

* ``torch lp_pool2d``: ``torch.nn.functional.lp_pool2d`` with a fixed float p (no gradient for
  p; it uses x^p on the signed input, so it is NaN for negative x and non-integer p — timed on
  |x| to keep it honest).
* ``naive composite``: ``(avg_pool2d(|x|^p) * k²)^(1/p)`` with a tensor p that requires grad,
  the formula users write (NaN at all-zero windows, overflow for large p).
* ``netgrad lp_pool2d``: :func:`netgrad.ops.lp_pool2d` with a tensor p that requires grad
  (gradients for x and p), and with a fixed float p (gradient for x only, like PyTorch's).

Each step is forward + backward (x.grad reset each time). Runs are interleaved so that the
contenders see the same machine load; the table gives the median and the minimum of
``--repeats`` runs, and the ratios (netgrad with a tensor p over each other row) use the
medians. Target: ≤ 1.3× ``torch lp_pool2d`` and < 1× the naive composite.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from netgrad.ops import lp_pool2d


def _torch_fixed(x, p, k, s):
    return F.lp_pool2d(x, p, k, s)


def _naive(x, p, k, s):
    return (F.avg_pool2d(x.abs() ** p, k, s) * (k * k)) ** (1 / p)


def _netgrad(x, p, k, s):
    return lp_pool2d(x, p, k, s)


def _step(fn, x, p, k, s, g):
    x.grad = None
    if isinstance(p, torch.Tensor):
        p.grad = None
    y = fn(x, p, k, s)
    y.backward(g)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--shape", type=int, nargs=4, default=[32, 64, 56, 56])
    ap.add_argument("--kernel", type=int, default=2)
    ap.add_argument("--stride", type=int, default=None)
    ap.add_argument("--p", type=float, nargs="+", default=[3.0, 2.5])
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    k, s = args.kernel, args.stride or args.kernel
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(*args.shape, generator=gen).abs_().requires_grad_()
    print(f"input {tuple(args.shape)} float32, kernel {k}, stride {s}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, median of {args.repeats}")
    with torch.no_grad():
        out_shape = F.avg_pool2d(x, k, s).shape
    g = torch.randn(out_shape, generator=gen)
    for pv in args.p:
        pt = torch.tensor(pv, requires_grad=True)
        cases = {"torch lp_pool2d (fixed p)": (_torch_fixed, pv),
                 "naive composite (tensor p)": (_naive, pt),
                 "netgrad lp_pool2d (fixed p)": (_netgrad, pv),
                 "netgrad lp_pool2d (tensor p)": (_netgrad, pt)}
        times = {name: [] for name in cases}
        for name, (fn, p) in cases.items():  # warm-up
            _step(fn, x, p, k, s, g)
        for _ in range(args.repeats):
            for name, (fn, p) in cases.items():
                t0 = time.perf_counter()
                _step(fn, x, p, k, s, g)
                times[name].append(time.perf_counter() - t0)
        med = {name: statistics.median(ts) for name, ts in times.items()}
        ours = med["netgrad lp_pool2d (tensor p)"]
        print(f"\np = {pv}                            median      min   netgrad(tensor p) / this")
        for name, t in med.items():
            print(f"  {name:30s} {t * 1e3:7.1f} ms {min(times[name]) * 1e3:7.1f} ms   "
                  f"{ours / t:5.2f}")


if __name__ == "__main__":
    main()
