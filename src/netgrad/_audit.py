"""``python -m netgrad audit``: adversarial gradient cases, netgrad against plain PyTorch.

Each case is written once as plain torch code. The PyTorch column runs it as is; the netgrad
column runs the same code under :func:`netgrad.ops.robust` (or, where the naive formula is the
problem itself, netgrad's dedicated operation). (A JAX column is not implemented yet.)
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

__all__ = ["main", "CASES", "run_cases"]

_F64 = torch.float64
_F32 = torch.float32
_INF = math.inf
_NAN = math.nan


def _grad(f: Callable, *xs, create_graph: bool = False):
    """Gradient of the sum of f(*xs) with respect to every x (x given as lists)."""
    leaves = [x.clone().requires_grad_(True) for x in xs]
    out = f(*leaves)
    gs = torch.autograd.grad(out.sum(), leaves, allow_unused=True, create_graph=create_graph)
    return torch.cat([(g if g is not None else torch.zeros_like(x)).reshape(-1)
                      for g, x in zip(gs, leaves)])


def _t(values, dtype=_F64) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype)


@dataclass
class Case:
    """An adversarial case: ``correct`` is what the mathematics says; ``torch_fn`` computes it
    with plain torch; ``netgrad_fn`` (default: ``torch_fn`` under ``robust()``) with netgrad."""

    name: str
    correct: Sequence[float]
    torch_fn: Callable[[], torch.Tensor]
    netgrad_fn: Callable[[], torch.Tensor] | None = None
    rtol: float = 1e-6
    atol: float = 1e-12


def _second(f: Callable, x: torch.Tensor) -> torch.Tensor:
    """d/dx of (df/dx), elementwise (f applied elementwise)."""
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x).sum(), x, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), x, allow_unused=True)
    return h if h is not None else torch.zeros_like(x)


def _hvp(f: Callable, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Hessian-vector product H(x)·v by double backward."""
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x, create_graph=True)
    (h,) = torch.autograd.grad((g * v).sum(), x)
    return h


def _pool_naive(x, p):
    return (x.abs() ** p).sum() ** (1 / p)


def _pool_netgrad(x, p):
    from netgrad import ops

    return ops.norm(x, p)


def _cases() -> list[Case]:
    from netgrad import ops

    c: list[Case] = []
    add = c.append
    # --- the contract's table -------------------------------------------------------------
    add(Case("prod(Ramp(x)) at (4, -2): gradient", [0, 0],
             lambda: _grad(lambda x: torch.prod(torch.relu(x)), _t([4.0, -2.0]))))
    add(Case("vector norm at 0: gradient", [0, 0],
             lambda: _grad(lambda x: torch.linalg.vector_norm(x), _t([0.0, 0.0]))))
    add(Case("sqrt(x*x + y*y) at (0, 0): gradient", [0, 0],
             lambda: _grad(lambda x, y: torch.sqrt(x * x + y * y), _t([0.0]), _t([0.0]))))
    add(Case("where(x > 0, sqrt(x), 0) at -1: gradient", [0],
             lambda: _grad(lambda x: torch.where(x > 0, torch.sqrt(x), 0.0), _t([-1.0]))))
    add(Case("where(x > 0, log(x), 0) at 0: gradient", [0],
             lambda: _grad(lambda x: torch.where(x > 0, torch.log(x), 0.0), _t([0.0]))))
    add(Case("normalize(x) at 0: value", [0, 0],
             lambda: F.normalize(_t([[0.0, 0.0]])).reshape(-1)))
    add(Case("normalize(x) at 0: gradient", [0, 0],
             lambda: _grad(lambda x: F.normalize(x) * _t([[1.0, 2.0]]), _t([[0.0, 0.0]]))))
    add(Case("logsumexp([-inf, -inf]): gradient", [0, 0],
             lambda: _grad(lambda x: torch.logsumexp(x, 0), _t([-_INF, -_INF]))))
    add(Case("softmax of a fully masked row: value", [0, 0, 0],
             lambda: torch.softmax(_t([[-_INF] * 3]), -1).reshape(-1)))
    add(Case("softmax of a fully masked row: gradient", [0, 0, 0],
             lambda: _grad(lambda x: torch.softmax(x, -1) * _t([1.0, 2.0, 3.0]),
                           _t([-_INF] * 3))))
    add(Case("std of a constant vector (2, 2, 2): gradient", [0, 0, 0],
             lambda: _grad(torch.std, _t([2.0, 2.0, 2.0]))))
    add(Case("atan2(0, 0): gradient", [0, 0],
             lambda: _grad(torch.atan2, _t([0.0]), _t([0.0]))))
    add(Case("xlogy(x, x) at 0: gradient", [-_INF],
             lambda: _grad(lambda x: torch.xlogy(x, x), _t([0.0]))))
    add(Case("power pooling, trainable p, all-zero window: gradient (x, p)", [0, 0, 0, 0],
             lambda: _grad(_pool_naive, _t([0.0, 0.0, 0.0]), _t(3.0)),
             lambda: _grad(_pool_netgrad, _t([0.0, 0.0, 0.0]), _t(3.0))))
    big = 100 * 3 ** (1 / 80)
    add(Case("power pooling, float32, p = 80, values 100: value", [big],
             lambda: _pool_naive(_t([100.0] * 3, _F32), _t(80.0, _F32)).reshape(1),
             lambda: _pool_netgrad(_t([100.0] * 3, _F32), _t(80.0, _F32)).reshape(1),
             rtol=1e-5))
    add(Case("power pooling, float32, p = 80, values 100: d/dp finite", [
        -100 * 3 ** (1 / 80) * math.log(3) / 80 ** 2],
        lambda: _grad(lambda p: _pool_naive(_t([100.0] * 3, _F32), p), _t(80.0, _F32)),
        lambda: _grad(lambda p: _pool_netgrad(_t([100.0] * 3, _F32), p), _t(80.0, _F32)),
        rtol=1e-4))
    tiny = 1e-30 * 3 ** (1 / 3)
    add(Case("power pooling, float32, values 1e-30, p = 3: value", [tiny],
             lambda: _pool_naive(_t([1e-30] * 3, _F32), _t(3.0, _F32)).reshape(1),
             lambda: _pool_netgrad(_t([1e-30] * 3, _F32), _t(3.0, _F32)).reshape(1),
             rtol=1e-5, atol=0.0))
    add(Case("binary cross-entropy, p = 0, target 0: gradient", [1],
             lambda: _grad(lambda p: F.binary_cross_entropy(p, _t([0.0])), _t([0.0]))))
    # --- more of our own ------------------------------------------------------------------
    add(Case("std of a constant vector (0.1, 0.1, 0.1): gradient", [0, 0, 0],
             lambda: _grad(torch.std, _t([0.1, 0.1, 0.1])), atol=1e-9))
    add(Case("std of a constant vector, float32 (7.7 x 7): gradient", [0] * 7,
             lambda: _grad(torch.std, _t([7.7] * 7, _F32)), atol=1e-5))
    add(Case("hypot(x, y) at (0, 0): gradient", [0, 0],
             lambda: _grad(torch.hypot, _t([0.0]), _t([0.0]))))
    add(Case("|x| at 0: gradient", [0], lambda: _grad(torch.abs, _t([0.0]))))
    add(Case("maximum(x, y) at a tie: gradient", [0.5, 0.5],
             lambda: _grad(torch.maximum, _t([3.0]), _t([3.0]))))
    add(Case("max of (1, 3, 3): gradient split", [0, 0.5, 0.5],
             lambda: _grad(torch.max, _t([1.0, 3.0, 3.0]))))
    add(Case("prod with two zeros (0, 0, 3): gradient", [0, 0, 0],
             lambda: _grad(torch.prod, _t([0.0, 0.0, 3.0]))))
    add(Case("sum(cumprod(x)) at (0, 2, 3): gradient", [9, 0, 0],
             lambda: _grad(lambda x: torch.cumprod(x, 0), _t([0.0, 2.0, 3.0]))))
    add(Case("cumprod float32 (1e-30, 1e-30, 1e30), last: gradient", [1, 1, 0],
             lambda: _grad(lambda x: torch.cumprod(x, 0)[-1], _t([1e-30, 1e-30, 1e30], _F32)),
             rtol=1e-5, atol=1e-6))
    add(Case("where(x < 100, exp(x), 0) at 1000: gradient", [0],
             lambda: _grad(lambda x: torch.where(x < 100, torch.exp(x), 0.0), _t([1000.0]))))
    add(Case("where(y != 0, x / y, 0) at y = 0: gradient (x, y)", [0, 0],
             lambda: _grad(lambda x, y: torch.where(y != 0, x / y, 0.0), _t([1.0]),
                           _t([0.0]))))
    add(Case("sqrt(exp(x)) at x = -inf (a zero derivative meets an infinite one)", [0],
             lambda: _grad(lambda x: torch.sqrt(torch.exp(x)), _t([-_INF]))))
    add(Case("d/dp x**p at x = 0, p = 2", [0],
             lambda: _grad(lambda p: _t([0.0]) ** p, _t([2.0]))))
    add(Case("d/dx x**0 at x = 0", [0], lambda: _grad(lambda x: x ** 0.0, _t([0.0]))))
    add(Case("vector norm float32 of (1e20, 1e20): value", [math.sqrt(2) * 1e20],
             lambda: torch.linalg.vector_norm(_t([1e20, 1e20], _F32)).reshape(1), rtol=1e-6))
    add(Case("vector norm float32 of (1e-30, 1e-30): value", [math.sqrt(2) * 1e-30],
             lambda: torch.linalg.vector_norm(_t([1e-30, 1e-30], _F32)).reshape(1),
             rtol=1e-6, atol=0.0))
    add(Case("cosine similarity with a zero vector: gradient", [0, 0],
             lambda: _grad(lambda x: F.cosine_similarity(x, _t([[1.0, 2.0]])),
                           _t([[0.0, 0.0]]))))
    add(Case("log_softmax of a fully masked row: gradient", [0, 0],
             lambda: _grad(lambda x: torch.log_softmax(x, -1)[..., :1], _t([[-_INF, -_INF]]))))
    add(Case("cross-entropy, masked logit (0, -inf), target 0: gradient", [0, 0],
             lambda: _grad(lambda x: F.cross_entropy(x, torch.tensor([0])),
                           _t([[0.0, -_INF]]))))
    add(Case("geometric mean float32 of (1e30, 1e30): value", [1e30],
             lambda: torch.prod(_t([1e30, 1e30], _F32)).pow(0.5).reshape(1),
             lambda: ops.geometric_mean(_t([1e30, 1e30], _F32)).reshape(1), rtol=1e-6))
    add(Case("power mean, p = 1e-8, of (1, 4): value (→ geometric mean 2)", [2],
             lambda: ((_t([1.0, 4.0], _F32) ** 1e-8).mean() ** 1e8).reshape(1),
             lambda: ops.power_mean(_t([1.0, 4.0], _F32), 1e-8).reshape(1), rtol=1e-5))
    add(Case("second derivative of where(x > 0, sqrt(x), 0) at -1", [0],
             lambda: _second(lambda x: torch.where(x > 0, torch.sqrt(x), 0.0), _t([-1.0]))))
    add(Case("second derivative of |x|·x² at 0", [0],
             lambda: _second(lambda x: torch.abs(x) * x * x, _t([0.0]))))
    add(Case("second derivative of where(x > 0, log(x), 0) at 0", [0],
             lambda: _second(lambda x: torch.where(x > 0, torch.log(x), 0.0), _t([0.0]))))
    add(Case("Hessian-vector product of ‖x‖² / 2 + prod(Ramp(x)) at (4, -2, 0), v = (1, 1, 1)",
             [1, 1, 1],
             lambda: _hvp(lambda x: (x * x).sum() / 2 + torch.prod(torch.relu(x)),
                          _t([4.0, -2.0, 0.0]), _t([1.0, 1.0, 1.0]))))
    return c


CASES: list[Case] = []


def _close(value: torch.Tensor, correct: Sequence[float], rtol: float, atol: float) -> bool:
    v = value.detach().to(_F64).reshape(-1)
    want = torch.tensor(list(correct), dtype=_F64)
    if v.shape != want.shape or bool(torch.isnan(v).any()):
        return False
    return bool(torch.isclose(v, want, rtol=rtol, atol=atol).all())


def _fmt(v) -> str:
    if isinstance(v, str):
        return v
    vals = [float(x) for x in (v.detach().reshape(-1).tolist() if isinstance(v, torch.Tensor)
                               else v)]
    return "(" + ", ".join(f"{x:.4g}" for x in vals) + ")" if len(vals) > 1 else f"{vals[0]:.4g}"


def _run(fn: Callable) -> torch.Tensor | str:
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - a crash is a result of the audit, not its failure
        return f"error: {type(e).__name__}"


def run_cases(cases: Sequence[Case] | None = None) -> list[dict]:
    """Run the catalogue; one dict per case with the values and pass flags per framework."""
    from netgrad import ops

    cases = list(cases) if cases is not None else _cases()
    rows = []
    for case in cases:
        row = {"case": case, "torch": _run(case.torch_fn)}
        if case.netgrad_fn is not None:
            row["netgrad"] = _run(case.netgrad_fn)
        else:
            def under_robust(fn=case.torch_fn):
                with ops.robust():
                    return fn()
            row["netgrad"] = _run(under_robust)
        for key in ("torch", "netgrad"):
            v = row[key]
            row[key + "_ok"] = isinstance(v, torch.Tensor) and _close(v, case.correct,
                                                                       case.rtol, case.atol)
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the audit table. Returns 0 when netgrad passes every case, 1 otherwise."""
    parser = argparse.ArgumentParser(prog="python -m netgrad audit", description=__doc__)
    parser.parse_args(argv)
    rows = run_cases()
    header = ["case", "correct", "netgrad", "PyTorch " + torch.__version__.split("+")[0]]
    table = []
    for r in rows:
        case = r["case"]
        table.append([case.name, _fmt(list(case.correct)),
                      ("ok " if r["netgrad_ok"] else "FAIL ") + _fmt(r["netgrad"]),
                      ("ok " if r["torch_ok"] else "FAIL ") + _fmt(r["torch"])])
    widths = [max(len(row[i]) for row in table + [header]) for i in range(len(header))]
    line = " | ".join(h.ljust(w) for h, w in zip(header, widths))
    print(line)
    print("-+-".join("-" * w for w in widths))
    for row in table:
        print(" | ".join(v.ljust(w) for v, w in zip(row, widths)))
    n = len(rows)
    ng = sum(r["netgrad_ok"] for r in rows)
    pt = sum(r["torch_ok"] for r in rows)
    print()
    print(f"passed: netgrad {ng}/{n}, PyTorch {pt}/{n}")
    return 0 if ng == n else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
