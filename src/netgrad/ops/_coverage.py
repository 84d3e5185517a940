"""``python -m netgrad coverage``: which torch functions robust() routes, which it passes through,
and why.

Every function torch lets a ``TorchFunctionMode`` intercept (``torch.overrides``) is listed once
by its public name, as *routed* (robust() runs a netgrad rule for it) or *passed through*
(torch's own, bit for bit), with the reason.
"""

from __future__ import annotations

import re
from typing import Callable

import torch
from torch.overrides import get_ignored_functions, get_testing_overrides

__all__ = ["coverage", "main"]

# reasons for passing through, by name (first match wins)
_REASONS: list[tuple[str, str]] = [
    (r"^(cdist|pairwise_distance|dist|einsum|renorm|tensordot|bmm|baddbmm|mm|addmm|mv|dot|"
     r"bilinear)$", "NOT YET ROUTED (issue 11 open): a contraction or distance whose backward "
                    "can meet an infinite cotangent with a zero factor (0·inf = NaN)"),
    (r"^(add|sub|subtract|neg|negative|positive|sum|mean|nansum|cumsum|diff|trace|lerp|"
     r"addcmul|addcdiv|rsub)$", "linear: its gradient is ±g, a sum or a broadcast, so a zero "
                                "cotangent stays 0 and no infinity is made"),
    (r"(^|_)(eq|ne|lt|le|gt|ge|equal|isclose|allclose|isnan|isinf|isfinite|isposinf|isneginf|"
     r"isreal|signbit|argmax|argmin|argsort|sort|topk|floor|ceil|round|trunc|fix|frac|"
     r"bitwise|logical|bucketize|searchsorted|unique|nonzero|count_nonzero|histc|bincount|"
     r"is_|numel|result_type|can_cast|promote_types)", "piecewise constant, integer-valued or "
                                                     "not differentiable"),
    (r"^(cat|concat|concatenate|stack|hstack|vstack|dstack|split|chunk|unbind|reshape|view|"
     r"flatten|unflatten|squeeze|unsqueeze|permute|transpose|swapaxes|swapdims|movedim|t|flip|"
     r"roll|rot90|gather|scatter|index|take|narrow|select|masked|expand|repeat|tile|"
     r"broadcast|clone|contiguous|detach|diag|tril|triu|pad|where_|zeros|ones|empty|full|"
     r"rand|arange|linspace|logspace|eye|tensor|as_)", "data movement: the gradient moves g "
                                                      "unchanged"),
    (r"conv|pool|unfold|fold|interpolate|upsample|grid_sample|affine_grid|pixel",
     "convolution / pooling / resampling: torch's kernels (the netgrad.ops pooling and "
     "convolution rules are called directly, issue 10)"),
    (r"^(relu6|hardtanh|leaky_relu|prelu|rrelu|threshold|softshrink|hardshrink|tanhshrink|"
     r"dropout|alpha_dropout|feature_alpha_dropout)", "piecewise linear or a mask: the "
                                                     "backward is a finite constant or 0"),
    (r"^(lgamma|digamma|polygamma|mvlgamma|gammaln|psi|i0|i1|i0e|i1e|zeta|bessel|"
     r"airy|spherical|chebyshev|hermite|laguerre|legendre|modified|scaled_modified|"
     r"log_ndtr|ndtri|erfcx|entr|xlog1py|multigammaln|gammainc)",
     "special function without a rule yet: torch's own"),
    (r"(svd|eig|qr|cholesky|lu|solve|inv|det|pinv|lstsq|matrix_power|matrix_exp|slogdet|"
     r"matrix_norm|nuclear|cond|householder|ormqr|geqrf|triangular)",
     "linear algebra decomposition: torch's own (matrix norms other than Frobenius included)"),
    (r"(loss|cross_entropy|nll|kl_div|ctc|embedding|one_hot)",
     "loss or lookup without a rule here: torch's own (netgrad.ops has cross_entropy, "
     "binary_cross_entropy and ctc_loss)"),
]


def _name(f: Callable) -> str:
    mod = getattr(f, "__module__", None) or ""
    qual = getattr(f, "__qualname__", None) or getattr(f, "__name__", repr(f))
    qual = qual.replace("_VariableFunctionsClass.", "")
    if qual.startswith(("Tensor.", "TensorBase.", "_TensorBase.")):
        return "Tensor." + qual.split(".", 1)[1]
    if mod.startswith("torch.nn.functional") or mod == "torch._C._nn":
        return "torch.nn.functional." + qual
    if "special" in mod:
        return "torch.special." + qual
    if "linalg" in mod:
        return "torch.linalg." + qual
    if mod.startswith("torch.functional"):
        return "torch." + qual
    return ("torch." + qual) if not mod or mod.startswith("torch") else f"{mod}.{qual}"


def _reason(name: str) -> str:
    base = name.rsplit(".", 1)[-1].strip("_")
    for pattern, reason in _REASONS:
        if re.search(pattern, base):
            return reason
    return "no rule: torch's own (its backward was not found to make NaN or inf from finite data)"


def coverage() -> list[tuple[str, str, str]]:
    """``(name, "routed" | "passed through", reason)`` for every interceptable torch function."""
    from ._robust import _TABLE

    seen: dict[str, tuple[str, str, str]] = {}
    funcs = set(get_testing_overrides()) | set(_TABLE)
    ignored = get_ignored_functions()
    for f in funcs:
        if f in ignored:
            continue
        try:
            name = _name(f)
        except Exception:  # noqa: BLE001 - an odd object in torch's tables: skip it
            continue
        if name.startswith("Tensor.__") and name not in ("Tensor.__mul__", "Tensor.__truediv__"):
            if f not in _TABLE:
                continue
        handler = _TABLE.get(f)
        if handler is not None:
            row = (name, "routed", _describe(handler))
        else:
            row = (name, "passed through", _reason(name))
        if name not in seen or row[1] == "routed":
            seen[name] = row
    return sorted(seen.values())


def _describe(handler: Callable) -> str:
    mod = getattr(handler, "__module__", "") or ""
    qual = getattr(handler, "__qualname__", "") or ""
    if "_inplace" in qual or "_into" in qual:
        return "in place: the robust rule on a copy, copied back (recorded by autograd)"
    if "_rewrites" in mod:
        return "robust rule, with the stable rewrites of recognised compositions"
    if "_routes" in mod and "multi_head" in qual:
        return "piece by piece: robust linear, attention and softmax"
    return "robust rule (netgrad.ops)"


def main(argv: list[str]) -> int:
    """Print the table; ``--routed`` or ``--passed`` for one half only."""
    rows = coverage()
    want = {"--routed": "routed", "--passed": "passed through"}.get(argv[0]) if argv else None
    n_routed = sum(r[1] == "routed" for r in rows)
    print(f"robust() coverage (torch {torch.__version__}): {n_routed} routed, "
          f"{len(rows) - n_routed} passed through")
    for name, status, reason in rows:
        if want is None or status == want:
            print(f"{status:15s} {name:55s} {reason}")
    return 0
