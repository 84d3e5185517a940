"""``python -m netgrad audit``: adversarial gradient cases, netgrad against plain PyTorch.

Each case is written once as plain torch code. The PyTorch column runs it as is; the netgrad
column runs the same code under :func:`netgrad.ops.robust` (or, where the naive formula is the
problem itself, netgrad's dedicated operation).

JAX column (optional). When ``jax`` is importable, a last column ("JAX <version>") runs each
case's ``jax_fn``: the same computation written the way a JAX user would write it
(``jax.numpy``, ``jax.grad``, ``jax.nn``, ``jax.scipy.special``), not "fixed" in any way. It
runs on the CPU with ``jax_enable_x64`` switched on for the run (float64 like the other columns;
the float32 cases build float32 arrays explicitly), and the previous setting is restored
afterwards. Cases with no natural JAX counterpart (``jax_fn`` is None, e.g. binary cross-entropy
on probabilities, which core JAX does not have) show "n/a" and are left out of the JAX pass
count, which reads ``JAX k/m`` over the m cases that have a JAX version. JAX is not a dependency
of netgrad: it is imported only here, only when the audit runs, and without it the column is
simply absent.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from typing import Any, Callable, Sequence

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
    with plain torch; ``netgrad_fn`` (default: ``torch_fn`` under ``robust()``) with netgrad;
    ``jax_fn(jax, jnp)`` (optional) with plain JAX, given the imported ``jax`` and
    ``jax.numpy`` modules, returning an array."""

    name: str
    correct: Sequence[float]
    torch_fn: Callable[[], torch.Tensor]
    netgrad_fn: Callable[[], torch.Tensor] | None = None
    rtol: float = 1e-6
    atol: float = 1e-12
    jax_fn: Callable[[Any, Any], Any] | None = None


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


# --- JAX helpers (jax is imported only when a JAX case runs) ---------------------------------


def _ja(values, dtype: str = "float64"):
    """A JAX array (float64 unless told)."""
    import jax.numpy as jnp

    return jnp.asarray(values, dtype=dtype)


def _jgrad(f: Callable, *xs):
    """JAX counterpart of :func:`_grad`: ``jax.grad`` of the sum of f(*xs), every argument."""
    import jax
    import jax.numpy as jnp

    gs = jax.grad(lambda *a: jnp.sum(f(*a)), argnums=tuple(range(len(xs))))(*xs)
    return jnp.concatenate([jnp.ravel(g) for g in gs])


def _jsecond(f: Callable, x):
    """JAX counterpart of :func:`_second`: ``grad(grad(f))`` elementwise."""
    import jax

    return jax.vmap(jax.grad(jax.grad(lambda t: f(t))))(x)


def _jhvp(f: Callable, x, v):
    """JAX counterpart of :func:`_hvp`: forward-over-reverse, as in the JAX autodiff cookbook."""
    import jax

    return jax.jvp(jax.grad(f), (x,), (v,))[1]


def _jpool_naive(x, p):
    import jax.numpy as jnp

    return jnp.sum(jnp.abs(x) ** p) ** (1 / p)


def _pool_naive(x, p):
    return (x.abs() ** p).sum() ** (1 / p)


def _pool_netgrad(x, p):
    from netgrad import ops

    return ops.norm(x, p)


def _cases() -> list[Case]:
    from netgrad import ops

    c: list[Case] = []
    add = c.append
    # jax_fn: lambda jax, jnp: ... -- plain JAX, the way a JAX user writes the same thing.
    # --- the contract's table -------------------------------------------------------------
    add(Case("prod(Ramp(x)) at (4, -2): gradient", [0, 0],
             lambda: _grad(lambda x: torch.prod(torch.relu(x)), _t([4.0, -2.0])),
             jax_fn=lambda jax, jnp: _jgrad(lambda x: jnp.prod(jax.nn.relu(x)),
                                            _ja([4.0, -2.0]))))
    add(Case("vector norm at 0: gradient", [0, 0],
             lambda: _grad(lambda x: torch.linalg.vector_norm(x), _t([0.0, 0.0])),
             jax_fn=lambda jax, jnp: _jgrad(jnp.linalg.norm, _ja([0.0, 0.0]))))
    add(Case("sqrt(x*x + y*y) at (0, 0): gradient", [0, 0],
             lambda: _grad(lambda x, y: torch.sqrt(x * x + y * y), _t([0.0]), _t([0.0])),
             jax_fn=lambda jax, jnp: _jgrad(lambda x, y: jnp.sqrt(x * x + y * y),
                                            _ja([0.0]), _ja([0.0]))))
    add(Case("where(x > 0, sqrt(x), 0) at -1: gradient", [0],
             lambda: _grad(lambda x: torch.where(x > 0, torch.sqrt(x), 0.0), _t([-1.0])),
             jax_fn=lambda jax, jnp: _jgrad(lambda x: jnp.where(x > 0, jnp.sqrt(x), 0.0),
                                            _ja([-1.0]))))
    add(Case("where(x > 0, log(x), 0) at 0: gradient", [0],
             lambda: _grad(lambda x: torch.where(x > 0, torch.log(x), 0.0), _t([0.0])),
             jax_fn=lambda jax, jnp: _jgrad(lambda x: jnp.where(x > 0, jnp.log(x), 0.0),
                                            _ja([0.0]))))
    # JAX has no normalize: x / norm(x) is how it is written.
    add(Case("normalize(x) at 0: value", [0, 0],
             lambda: F.normalize(_t([[0.0, 0.0]])).reshape(-1),
             jax_fn=lambda jax, jnp: (lambda x: x / jnp.linalg.norm(x, axis=-1, keepdims=True))(
                 _ja([[0.0, 0.0]])).reshape(-1)))
    add(Case("normalize(x) at 0: gradient", [0, 0],
             lambda: _grad(lambda x: F.normalize(x) * _t([[1.0, 2.0]]), _t([[0.0, 0.0]])),
             jax_fn=lambda jax, jnp: _jgrad(
                 lambda x: x / jnp.linalg.norm(x, axis=-1, keepdims=True) * _ja([[1.0, 2.0]]),
                 _ja([[0.0, 0.0]]))))
    add(Case("logsumexp([-inf, -inf]): gradient", [0, 0],
             lambda: _grad(lambda x: torch.logsumexp(x, 0), _t([-_INF, -_INF])),
             jax_fn=lambda jax, jnp: _jgrad(lambda x: jax.nn.logsumexp(x, 0),
                                            _ja([-_INF, -_INF]))))
    add(Case("softmax of a fully masked row: value", [0, 0, 0],
             lambda: torch.softmax(_t([[-_INF] * 3]), -1).reshape(-1),
             jax_fn=lambda jax, jnp: jax.nn.softmax(_ja([[-_INF] * 3]), -1).reshape(-1)))
    add(Case("softmax of a fully masked row: gradient", [0, 0, 0],
             lambda: _grad(lambda x: torch.softmax(x, -1) * _t([1.0, 2.0, 3.0]),
                           _t([-_INF] * 3)),
             jax_fn=lambda jax, jnp: _jgrad(lambda x: jax.nn.softmax(x, -1) * _ja([1.0, 2.0, 3.0]),
                                            _ja([-_INF] * 3))))
    # torch.std is the sample (n - 1) standard deviation: ddof=1 in JAX.
    add(Case("std of a constant vector (2, 2, 2): gradient", [0, 0, 0],
             lambda: _grad(torch.std, _t([2.0, 2.0, 2.0])),
             jax_fn=lambda jax, jnp: _jgrad(lambda x: jnp.std(x, ddof=1), _ja([2.0, 2.0, 2.0]))))
    add(Case("atan2(0, 0): gradient", [0, 0],
             lambda: _grad(torch.atan2, _t([0.0]), _t([0.0])),
             jax_fn=lambda jax, jnp: _jgrad(jnp.arctan2, _ja([0.0]), _ja([0.0]))))
    add(Case("xlogy(x, x) at 0: gradient", [-_INF],
             lambda: _grad(lambda x: torch.xlogy(x, x), _t([0.0])),
             jax_fn=lambda jax, jnp: _jgrad(lambda x: jax.scipy.special.xlogy(x, x),
                                            _ja([0.0]))))
    add(Case("power pooling, trainable p, all-zero window: gradient (x, p)", [0, 0, 0, 0],
             lambda: _grad(_pool_naive, _t([0.0, 0.0, 0.0]), _t(3.0)),
             lambda: _grad(_pool_netgrad, _t([0.0, 0.0, 0.0]), _t(3.0)),
             jax_fn=lambda jax, jnp: _jgrad(_jpool_naive, _ja([0.0, 0.0, 0.0]), _ja(3.0))))
    big = 100 * 3 ** (1 / 80)
    add(Case("power pooling, float32, p = 80, values 100: value", [big],
             lambda: _pool_naive(_t([100.0] * 3, _F32), _t(80.0, _F32)).reshape(1),
             lambda: _pool_netgrad(_t([100.0] * 3, _F32), _t(80.0, _F32)).reshape(1),
             rtol=1e-5,
             jax_fn=lambda jax, jnp: _jpool_naive(_ja([100.0] * 3, "float32"),
                                                  _ja(80.0, "float32")).reshape(1)))
    add(Case("power pooling, float32, p = 80, values 100: d/dp finite", [
        -100 * 3 ** (1 / 80) * math.log(3) / 80 ** 2],
        lambda: _grad(lambda p: _pool_naive(_t([100.0] * 3, _F32), p), _t(80.0, _F32)),
        lambda: _grad(lambda p: _pool_netgrad(_t([100.0] * 3, _F32), p), _t(80.0, _F32)),
        rtol=1e-4,
        jax_fn=lambda jax, jnp: _jgrad(lambda p: _jpool_naive(_ja([100.0] * 3, "float32"), p),
                                       _ja(80.0, "float32"))))
    tiny = 1e-30 * 3 ** (1 / 3)
    add(Case("power pooling, float32, values 1e-30, p = 3: value", [tiny],
             lambda: _pool_naive(_t([1e-30] * 3, _F32), _t(3.0, _F32)).reshape(1),
             lambda: _pool_netgrad(_t([1e-30] * 3, _F32), _t(3.0, _F32)).reshape(1),
             rtol=1e-5, atol=0.0,
             jax_fn=lambda jax, jnp: _jpool_naive(_ja([1e-30] * 3, "float32"),
                                                  _ja(3.0, "float32")).reshape(1)))
    # Core JAX has no cross-entropy on probabilities (the contract's table says n/a): no jax_fn.
    add(Case("binary cross-entropy, p = 0, target 0: gradient", [1],
             lambda: _grad(lambda p: F.binary_cross_entropy(p, _t([0.0])), _t([0.0]))))
    # --- more of our own ------------------------------------------------------------------
    add(Case("std of a constant vector (0.1, 0.1, 0.1): gradient", [0, 0, 0],
             lambda: _grad(torch.std, _t([0.1, 0.1, 0.1])), atol=1e-9,
             jax_fn=lambda jax, jnp: _jgrad(lambda x: jnp.std(x, ddof=1), _ja([0.1, 0.1, 0.1]))))
    add(Case("std of a constant vector, float32 (7.7 x 7): gradient", [0] * 7,
             lambda: _grad(torch.std, _t([7.7] * 7, _F32)), atol=1e-5,
             jax_fn=lambda jax, jnp: _jgrad(lambda x: jnp.std(x, ddof=1),
                                            _ja([7.7] * 7, "float32"))))
    add(Case("hypot(x, y) at (0, 0): gradient", [0, 0],
             lambda: _grad(torch.hypot, _t([0.0]), _t([0.0])),
             jax_fn=lambda jax, jnp: _jgrad(jnp.hypot, _ja([0.0]), _ja([0.0]))))
    add(Case("|x| at 0: gradient", [0], lambda: _grad(torch.abs, _t([0.0])),
             jax_fn=lambda jax, jnp: _jgrad(jnp.abs, _ja([0.0]))))
    add(Case("maximum(x, y) at a tie: gradient", [0.5, 0.5],
             lambda: _grad(torch.maximum, _t([3.0]), _t([3.0])),
             jax_fn=lambda jax, jnp: _jgrad(jnp.maximum, _ja([3.0]), _ja([3.0]))))
    add(Case("max of (1, 3, 3): gradient split", [0, 0.5, 0.5],
             lambda: _grad(torch.max, _t([1.0, 3.0, 3.0])),
             jax_fn=lambda jax, jnp: _jgrad(jnp.max, _ja([1.0, 3.0, 3.0]))))
    add(Case("prod with two zeros (0, 0, 3): gradient", [0, 0, 0],
             lambda: _grad(torch.prod, _t([0.0, 0.0, 3.0])),
             jax_fn=lambda jax, jnp: _jgrad(jnp.prod, _ja([0.0, 0.0, 3.0]))))
    add(Case("sum(cumprod(x)) at (0, 2, 3): gradient", [9, 0, 0],
             lambda: _grad(lambda x: torch.cumprod(x, 0), _t([0.0, 2.0, 3.0])),
             jax_fn=lambda jax, jnp: _jgrad(lambda x: jnp.cumprod(x, 0), _ja([0.0, 2.0, 3.0]))))
    add(Case("cumprod float32 (1e-30, 1e-30, 1e30), last: gradient", [1, 1, 0],
             lambda: _grad(lambda x: torch.cumprod(x, 0)[-1], _t([1e-30, 1e-30, 1e30], _F32)),
             rtol=1e-5, atol=1e-6,
             jax_fn=lambda jax, jnp: _jgrad(lambda x: jnp.cumprod(x, 0)[-1],
                                            _ja([1e-30, 1e-30, 1e30], "float32"))))
    add(Case("where(x < 100, exp(x), 0) at 1000: gradient", [0],
             lambda: _grad(lambda x: torch.where(x < 100, torch.exp(x), 0.0), _t([1000.0])),
             jax_fn=lambda jax, jnp: _jgrad(lambda x: jnp.where(x < 100, jnp.exp(x), 0.0),
                                            _ja([1000.0]))))
    add(Case("where(y != 0, x / y, 0) at y = 0: gradient (x, y)", [0, 0],
             lambda: _grad(lambda x, y: torch.where(y != 0, x / y, 0.0), _t([1.0]),
                           _t([0.0])),
             jax_fn=lambda jax, jnp: _jgrad(lambda x, y: jnp.where(y != 0, x / y, 0.0),
                                            _ja([1.0]), _ja([0.0]))))
    add(Case("sqrt(exp(x)) at x = -inf (a zero derivative meets an infinite one)", [0],
             lambda: _grad(lambda x: torch.sqrt(torch.exp(x)), _t([-_INF])),
             jax_fn=lambda jax, jnp: _jgrad(lambda x: jnp.sqrt(jnp.exp(x)), _ja([-_INF]))))
    add(Case("d/dp x**p at x = 0, p = 2", [0],
             lambda: _grad(lambda p: _t([0.0]) ** p, _t([2.0])),
             jax_fn=lambda jax, jnp: _jgrad(lambda p: _ja([0.0]) ** p, _ja([2.0]))))
    add(Case("d/dx x**0 at x = 0", [0], lambda: _grad(lambda x: x ** 0.0, _t([0.0])),
             jax_fn=lambda jax, jnp: _jgrad(lambda x: x ** 0.0, _ja([0.0]))))
    add(Case("vector norm float32 of (1e20, 1e20): value", [math.sqrt(2) * 1e20],
             lambda: torch.linalg.vector_norm(_t([1e20, 1e20], _F32)).reshape(1), rtol=1e-6,
             jax_fn=lambda jax, jnp: jnp.linalg.norm(_ja([1e20, 1e20], "float32")).reshape(1)))
    add(Case("vector norm float32 of (1e-30, 1e-30): value", [math.sqrt(2) * 1e-30],
             lambda: torch.linalg.vector_norm(_t([1e-30, 1e-30], _F32)).reshape(1),
             rtol=1e-6, atol=0.0,
             jax_fn=lambda jax, jnp: jnp.linalg.norm(_ja([1e-30, 1e-30], "float32")).reshape(1)))
    # JAX has no cosine_similarity: x·y / (‖x‖ ‖y‖) is how it is written.
    add(Case("cosine similarity with a zero vector: gradient", [0, 0],
             lambda: _grad(lambda x: F.cosine_similarity(x, _t([[1.0, 2.0]])),
                           _t([[0.0, 0.0]])),
             jax_fn=lambda jax, jnp: _jgrad(
                 lambda x, y=_ja([[1.0, 2.0]]): jnp.sum(x * y, -1)
                 / (jnp.linalg.norm(x, axis=-1) * jnp.linalg.norm(y, axis=-1)),
                 _ja([[0.0, 0.0]]))))
    add(Case("log_softmax of a fully masked row: gradient", [0, 0],
             lambda: _grad(lambda x: torch.log_softmax(x, -1)[..., :1], _t([[-_INF, -_INF]])),
             jax_fn=lambda jax, jnp: _jgrad(lambda x: jax.nn.log_softmax(x, -1)[..., :1],
                                            _ja([[-_INF, -_INF]]))))
    # Core JAX has no cross_entropy: -log_softmax(logits)[target] is how it is written.
    add(Case("cross-entropy, masked logit (0, -inf), target 0: gradient", [0, 0],
             lambda: _grad(lambda x: F.cross_entropy(x, torch.tensor([0])),
                           _t([[0.0, -_INF]])),
             jax_fn=lambda jax, jnp: _jgrad(lambda x: -jax.nn.log_softmax(x, -1)[:, 0].mean(),
                                            _ja([[0.0, -_INF]]))))
    add(Case("geometric mean float32 of (1e30, 1e30): value", [1e30],
             lambda: torch.prod(_t([1e30, 1e30], _F32)).pow(0.5).reshape(1),
             lambda: ops.geometric_mean(_t([1e30, 1e30], _F32)).reshape(1), rtol=1e-6,
             jax_fn=lambda jax, jnp: (jnp.prod(_ja([1e30, 1e30], "float32")) ** 0.5).reshape(1)))
    add(Case("power mean, p = 1e-8, of (1, 4): value (→ geometric mean 2)", [2],
             lambda: ((_t([1.0, 4.0], _F32) ** 1e-8).mean() ** 1e8).reshape(1),
             lambda: ops.power_mean(_t([1.0, 4.0], _F32), 1e-8).reshape(1), rtol=1e-5,
             jax_fn=lambda jax, jnp: (jnp.mean(_ja([1.0, 4.0], "float32") ** 1e-8)
                                      ** 1e8).reshape(1)))
    add(Case("second derivative of where(x > 0, sqrt(x), 0) at -1", [0],
             lambda: _second(lambda x: torch.where(x > 0, torch.sqrt(x), 0.0), _t([-1.0])),
             jax_fn=lambda jax, jnp: _jsecond(lambda x: jnp.where(x > 0, jnp.sqrt(x), 0.0),
                                              _ja([-1.0]))))
    add(Case("second derivative of |x|·x² at 0", [0],
             lambda: _second(lambda x: torch.abs(x) * x * x, _t([0.0])),
             jax_fn=lambda jax, jnp: _jsecond(lambda x: jnp.abs(x) * x * x, _ja([0.0]))))
    add(Case("second derivative of where(x > 0, log(x), 0) at 0", [0],
             lambda: _second(lambda x: torch.where(x > 0, torch.log(x), 0.0), _t([0.0])),
             jax_fn=lambda jax, jnp: _jsecond(lambda x: jnp.where(x > 0, jnp.log(x), 0.0),
                                              _ja([0.0]))))
    add(Case("Hessian-vector product of ‖x‖² / 2 + prod(Ramp(x)) at (4, -2, 0), v = (1, 1, 1)",
             [1, 1, 1],
             lambda: _hvp(lambda x: (x * x).sum() / 2 + torch.prod(torch.relu(x)),
                          _t([4.0, -2.0, 0.0]), _t([1.0, 1.0, 1.0])),
             jax_fn=lambda jax, jnp: _jhvp(lambda x: jnp.sum(x * x) / 2
                                           + jnp.prod(jax.nn.relu(x)),
                                           _ja([4.0, -2.0, 0.0]), _ja([1.0, 1.0, 1.0]))))
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


def _load_jax():
    """``(jax, jax.numpy)`` when jax is importable, else None. Imported here only, lazily."""
    try:
        import jax
        import jax.nn  # noqa: F401 - the cases use these submodules
        import jax.numpy as jnp
        import jax.scipy.special  # noqa: F401
    except ImportError:
        return None
    except Exception as e:  # noqa: BLE001 - a broken optional install drops the column only
        print(f"netgrad audit: jax is installed but failed to import ({type(e).__name__}: {e});"
              " no JAX column", file=sys.stderr)
        return None
    return jax, jnp


def _run_jax(case: Case, jax, jnp) -> torch.Tensor | str:
    """Run ``case.jax_fn`` on the CPU; the result as a torch tensor (same dtype), or an error."""
    def fn():
        with jax.default_device(jax.devices("cpu")[0]):
            out = case.jax_fn(jax, jnp)
            import numpy as np

            return torch.from_numpy(np.array(out, copy=True))
    return _run(fn)


def run_cases(cases: Sequence[Case] | None = None, *, jax: bool | None = None) -> list[dict]:
    """Run the catalogue; one dict per case with the values and pass flags per framework.

    ``jax``: None (default) adds the JAX column when jax is importable; False never; True
    requires it (ImportError otherwise). With the column, each row has ``"jax"`` (a tensor, an
    error string, or "n/a" when the case has no ``jax_fn``) and ``"jax_ok"`` (None for "n/a").
    """
    from netgrad import ops

    cases = list(cases) if cases is not None else _cases()
    jx = _load_jax() if jax is not False else None
    if jax and jx is None:
        raise ImportError("the JAX column needs jax (pip install jax)")
    x64_before = None
    if jx is not None:
        x64_before = bool(jx[0].config.read("jax_enable_x64"))
        jx[0].config.update("jax_enable_x64", True)
    rows = []
    try:
        for case in cases:
            row = {"case": case, "torch": _run(case.torch_fn)}
            if case.netgrad_fn is not None:
                row["netgrad"] = _run(case.netgrad_fn)
            else:
                def under_robust(fn=case.torch_fn):
                    with ops.robust():
                        return fn()
                row["netgrad"] = _run(under_robust)
            keys = ["torch", "netgrad"]
            if jx is not None:
                if case.jax_fn is None:
                    row["jax"], row["jax_ok"] = "n/a", None
                else:
                    row["jax"] = _run_jax(case, *jx)
                    keys.append("jax")
            for key in keys:
                v = row[key]
                row[key + "_ok"] = isinstance(v, torch.Tensor) and _close(v, case.correct,
                                                                           case.rtol, case.atol)
            rows.append(row)
    finally:
        if jx is not None:
            jx[0].config.update("jax_enable_x64", x64_before)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the audit table. Returns 0 when netgrad passes every case, 1 otherwise."""
    parser = argparse.ArgumentParser(prog="python -m netgrad audit", description=__doc__)
    parser.parse_args(argv)
    rows = run_cases()
    has_jax = bool(rows) and "jax" in rows[0]
    header = ["case", "correct", "netgrad", "PyTorch " + torch.__version__.split("+")[0]]
    if has_jax:
        import jax

        header.append("JAX " + jax.__version__)

    def cell(ok, v) -> str:
        return _fmt(v) if ok is None else ("ok " if ok else "FAIL ") + _fmt(v)

    table = []
    for r in rows:
        case = r["case"]
        table.append([case.name, _fmt(list(case.correct)), cell(r["netgrad_ok"], r["netgrad"]),
                      cell(r["torch_ok"], r["torch"])])
        if has_jax:
            table[-1].append(cell(r["jax_ok"], r["jax"]))
    widths = [max(len(row[i]) for row in table + [header]) for i in range(len(header))]
    line = " | ".join(h.ljust(w) for h, w in zip(header, widths))
    print(line.rstrip())
    print("-+-".join("-" * w for w in widths))
    for row in table:
        print(" | ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    n = len(rows)
    ng = sum(r["netgrad_ok"] for r in rows)
    pt = sum(r["torch_ok"] for r in rows)
    summary = f"passed: netgrad {ng}/{n}, PyTorch {pt}/{n}"
    if has_jax:
        ran = [r for r in rows if r["jax_ok"] is not None]
        jk = sum(r["jax_ok"] for r in ran)
        summary += f", JAX {jk}/{len(ran)}"
        if len(ran) < n:
            summary += f" ({n - len(ran)} n/a)"
    print()
    print(summary)
    return 0 if ng == n else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
