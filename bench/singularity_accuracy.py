"""Accuracy of formulas with a removable singularity, at and near the singular point.

For each formula and point: the relative error of the value and of the derivative against
mpmath (50 digits), for plain PyTorch and for the same function as an ElementwiseLayer (the
series engine: the limit at the point itself, the series where the formula cancels near it).
"nan" means the framework returned NaN; where the truth is 0 the error is absolute.

    python bench/singularity_accuracy.py [--dtype float64|float32]
"""

from __future__ import annotations

import argparse
import math

import mpmath
import torch

from netgrad import ElementwiseLayer

mpmath.mp.dps = 50

FORMULAS = {
    "sin(x)/x": (lambda x: torch.sin(x) / x, lambda x: mpmath.sin(x) / x),
    "(1 - cos x)/x^2": (lambda x: (1 - torch.cos(x)) / x ** 2,
                        lambda x: (1 - mpmath.cos(x)) / x ** 2),
    "x/(e^x - 1)": (lambda x: x / (torch.exp(x) - 1), lambda x: x / (mpmath.exp(x) - 1)),
    "log1p(x)/x": (lambda x: torch.log1p(x) / x, lambda x: mpmath.log1p(x) / x),
    "(e^x - 1)/x": (lambda x: (torch.exp(x) - 1) / x, lambda x: (mpmath.exp(x) - 1) / x),
    "t/(2 sin t)": (lambda x: x / (2 * torch.sin(x)), lambda x: x / (2 * mpmath.sin(x))),
}
POINTS = [0.0, 1e-8, 1e-4, 1e-3]


def _truth(fm, x: float) -> tuple[float, float]:
    with mpmath.workdps(80):
        if x == 0:
            h = mpmath.mpf("1e-30")
            return (float(mpmath.diff(fm, 0, 0, singular=True, h=h)),
                    float(mpmath.diff(fm, 0, 1, singular=True, h=h)))
        xm = mpmath.mpf(x)
        return float(fm(xm)), float(mpmath.diff(fm, xm, 1))


def _run(f, x: float, dtype: torch.dtype) -> tuple[float, float]:
    t = torch.tensor([x], dtype=dtype, requires_grad=True)
    y = f(t)
    (g,) = torch.autograd.grad(y.sum(), t)
    return float(y.detach()[0]), float(g[0])


def _err(got: float, want: float) -> str:
    if math.isnan(got):
        return "nan"
    if abs(want) < 1e-20:       # a zero derivative (mpmath's one-sided step leaves ~1e-30)
        return f"{abs(got):.0e}"
    return f"{abs(got - want) / abs(want):.0e}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    dtype = getattr(torch, parser.parse_args(argv).dtype)
    print(f"relative error vs mpmath, {dtype}: value / derivative")
    print(f"{'formula':18s} {'x':>6s}  {'plain torch':>17s}  {'netgrad layer':>17s}")
    for name, (f, fm) in FORMULAS.items():
        layer = ElementwiseLayer(f)
        for x in POINTS:
            v, d = _truth(fm, x)
            pv, pd = _run(f, x, dtype)
            nv, nd = _run(layer.forward, x, dtype)
            print(f"{name:18s} {x:6.0e}  {_err(pv, v):>8s}/{_err(pd, d):>8s}  "
                  f"{_err(nv, v):>8s}/{_err(nd, d):>8s}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
