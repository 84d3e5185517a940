"""Which torch functions the series engine knows, and what each does to jets.

Three kinds of rule:

* ``"ew"``, elementwise: a jet version of the function, written with torch's own signature
  (``j_add(S, input, other, *, alpha=1)``), so a recorded call replays with its own arguments.
  Comparisons return :class:`~._series.Bools`; casts are the identity on jets.
* ``"move"``: operations that only move data (views, indexing, ``cat``, ``split`` ...). They have
  no jet version: the engine runs the same call on index tensors to learn which input element
  each output element is.
* ``check``: where an operation can *create* an indeterminate NaN: ``"div"`` (0/0, inf/inf),
  ``"mul"`` (0·inf), ``"add"`` (inf - inf); ``"pole"`` marks operations that turn finite inputs
  into infinities (1/x, log, tan), after which a product or a sum is worth checking.

Anything not in the table is not recorded: its output is a leaf of the recipe (a variable of its
own), so a singularity that needs it is not resolved (it stays NaN and is reported), never
guessed.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F

from ._series import Bools, Jet, Series

__all__ = ["Rule", "RULES"]


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str                        # "ew" or "move"
    jet: Callable | None = None      # for "ew": jet version with the torch signature
    check: str = ""                  # "", "div", "mul", "add" or "pole"
    data: str = "first"              # for "move": "first" (args[0]) or "list" (args[0] is a list)
    multi: bool = False              # for "move": returns a tuple (split, chunk, unbind)


def _num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


# ---- elementwise jet functions (torch signatures; S is the Series) ---------------------------
def j_add(S: Series, input, other, *, alpha=1):
    return S.add(input, other, float(alpha))


def j_sub(S, input, other, *, alpha=1):
    return S.sub(input, other, float(alpha))


def j_rsub(S, input, other, *, alpha=1):
    return S.sub(other, input, float(alpha))


def j_mul(S, input, other):
    return S.mul(input, other)


def j_div(S, input, other, *, rounding_mode=None):
    if rounding_mode is not None:
        return S.step(S.div(input, other), torch.floor if rounding_mode == "floor" else
                      torch.trunc, lambda x: x == torch.round(x))
    return S.div(input, other)


def j_rdiv(S, input, other):
    return S.div(other, input)


def j_pow(S, input, exponent):
    return S.pow(input, exponent)


def j_rpow(S, input, other):
    return S.pow(other, input)


def j_neg(S, input):
    return S.neg(S.lift(input))


def j_pos(S, input):
    return S.lift(input)


def j_square(S, input):
    return S.mul(input, input)


def j_rsqrt(S, input):
    return S.pow(input, -0.5)


def j_exp2(S, input):
    return S.pow(2.0, input) if isinstance(input, Jet) else S.constant(2.0 ** input)


def j_log2(S, input):
    return S.scale(S.log(input), 1.0 / torch.log(torch.tensor(2.0, dtype=torch.float64)).item())


def j_log10(S, input):
    return S.scale(S.log(input), 1.0 / torch.log(torch.tensor(10.0, dtype=torch.float64)).item())


def j_sinc(S, input):
    """torch.sinc is normalized: sin(πx)/(πx), 1 at 0 (a removable singularity of its own)."""
    z = S.scale(S.lift(input), torch.pi)
    return S.div(S.sin(z), z)


def j_logsigmoid(S, input):
    return S.neg(S.softplus(S.neg(S.lift(input))))


def j_softplus(S, input, beta=1.0, threshold=20.0):
    return S.softplus(input, float(beta), float(threshold))


def j_silu(S, input, inplace=False):
    return S.mul(input, S.sigmoid(input))


def j_gelu(S, input, approximate="none"):
    x = S.lift(input)
    if approximate == "tanh":
        inner = S.scale(S.add(x, S.scale(S.pow_int(x, 3), 0.044715)), (2 / torch.pi) ** 0.5)
        return S.scale(S.mul(x, S.add(S.tanh(inner), 1.0)), 0.5)
    return S.scale(S.mul(x, S.add(S.erf(S.scale(x, 2 ** -0.5)), 1.0)), 0.5)


def j_mish(S, input, inplace=False):
    return S.mul(input, S.tanh(S.softplus(input)))


def j_elu(S, input, alpha=1.0, inplace=False):
    return S.elu(input, float(alpha))


def j_celu(S, input, alpha=1.0, inplace=False):
    x = S.lift(input)
    a = float(alpha)
    x0 = x.value
    neg = S.scale(S.expm1(S.scale(x, 1.0 / a)), a)
    return S._cut_where(S.select(x0 > 0, x, neg), x0 == 0)


def j_selu(S, input, inplace=False):
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return S.scale(S.elu(input, alpha), scale)


def j_relu(S, input, inplace=False):
    return S.relu(input)


def j_leaky_relu(S, input, negative_slope=0.01, inplace=False):
    return S.leaky_relu(input, float(negative_slope))


def j_softsign(S, input):
    return S.div(input, S.add(S.abs(input), 1.0))


def j_clamp(S, input, min=None, max=None):
    return S.clamp(input, min, max)


def j_clamp_min(S, input, min):
    return S.clamp(input, min, None)


def j_clamp_max(S, input, max):
    return S.clamp(input, None, max)


def j_hardtanh(S, input, min_val=-1.0, max_val=1.0, inplace=False):
    return S.clamp(input, float(min_val), float(max_val))


def j_maximum(S, input, other):
    return S.maximum(input, other)


def j_minimum(S, input, other):
    return S.maximum(input, other, smaller=True)


def j_xlogy(S, input, other):
    return S.mul(input, S.log(other))


def j_logaddexp(S, input, other):
    a, b = S.lift(input), S.lift(other)
    hi = S.maximum(a, b)
    lo = S.maximum(a, b, smaller=True)
    out = S.add(hi, S.log1p(S.exp(S.sub(lo, hi))))
    return Jet(out.c, out.v, out.n, out.bad)  # a tie is smooth here: not a cut


def j_where(S, condition, input, other):
    if not isinstance(condition, Bools):
        condition = _as_bools(S, condition)
    return S.where(condition, input, other)


def j_where_method(S, self, condition, other):
    return j_where(S, condition, self, other)


def j_lerp(S, input, end, weight):
    return S.add(input, S.mul(weight, S.sub(end, input)))


def j_addcmul(S, input, tensor1, tensor2, *, value=1):
    return S.add(input, S.scale(S.mul(tensor1, tensor2), float(value)))


def j_addcdiv(S, input, tensor1, tensor2, *, value=1):
    return S.add(input, S.scale(S.div(tensor1, tensor2), float(value)))


def _as_bools(S, x) -> Bools:
    if isinstance(x, Bools):
        return x
    if isinstance(x, torch.Tensor):
        return Bools(x.bool().expand(S.L), torch.zeros(S.L, dtype=torch.bool, device=S.device))
    return Bools(torch.full((S.L,), bool(x), device=S.device),
                 torch.zeros(S.L, dtype=torch.bool, device=S.device))


def _comparison(op: Callable, swap: bool = False) -> Callable:
    def j(S, input, other, *args, **kwargs):
        a, b = (other, input) if swap else (input, other)
        return S.compare(a, b, op)
    return j


def _logical(op: Callable, unary: bool = False) -> Callable:
    def j(S, input, other=None):
        a = _as_bools(S, input)
        if unary:
            return Bools(op(a.value), a.ambiguous)
        b = _as_bools(S, other)
        return Bools(op(a.value, b.value), a.ambiguous | b.ambiguous)
    return j


def j_cast(S, input, *args, **kwargs):
    """Casts (``to``, ``float``, ``double``, ``type_as``): the identity on jets; a boolean becomes
    0/1 with no series where the comparison behind it was a tie."""
    if isinstance(input, Bools):
        out = S.constant(input.value.to(torch.float64))
        return Jet(out.c, out.v, out.n, out.bad | input.ambiguous)
    return S.lift(input)


def j_like(fill: Callable) -> Callable:
    def j(S, input, *args, **kwargs):
        return S.constant(float(fill(args, kwargs)))
    return j


def _step(fn: Callable, jump: Callable) -> Callable:
    def j(S, input, *args, **kwargs):
        if args or kwargs:  # round(decimals=...) and friends: not recorded semantics
            raise _Unsupported
        return S.step(input, fn, jump)
    return j


class _Unsupported(Exception):
    """A recorded call whose arguments the jet version does not cover."""


def _unary(method: Callable) -> Callable:
    def j(S, input, *args, **kwargs):
        if args or kwargs:
            raise _Unsupported
        return method(S, input)
    return j


# ---- the table ---------------------------------------------------------------------------
def _methods(name: str) -> list:
    out = []
    for owner in (torch.Tensor, torch._C.TensorBase):
        f = owner.__dict__.get(name)
        if f is not None:
            out.append(f)
    return out


def _build() -> dict[Any, Rule]:
    table: dict[Any, Rule] = {}

    def reg(rule: Rule, *funcs):
        for f in funcs:
            for g in (f if isinstance(f, list) else [f]):
                if g is not None:
                    table[g] = rule

    def ew(name, jet, check="", torch_names=(), methods=(), extra=()):
        rule = Rule(name, "ew", jet, check)
        reg(rule, *[getattr(torch, n, None) for n in torch_names],
            *[_methods(m) for m in methods], *extra)

    sp = torch.special
    ew("add", j_add, "add", ("add",), ("add", "__add__", "__radd__"))
    ew("sub", j_sub, "add", ("sub", "subtract"), ("sub", "subtract", "__sub__"))
    ew("rsub", j_rsub, "add", ("rsub",), ("__rsub__",))
    ew("mul", j_mul, "mul", ("mul", "multiply"), ("mul", "multiply", "__mul__", "__rmul__"))
    ew("div", j_div, "div", ("div", "divide", "true_divide"),
       ("div", "divide", "true_divide", "__truediv__", "__div__"))
    ew("rdiv", j_rdiv, "div", (), ("__rtruediv__", "__rdiv__"))
    ew("pow", j_pow, "pole", ("pow",), ("pow", "__pow__"))
    ew("rpow", j_rpow, "pole", (), ("__rpow__",))
    ew("neg", j_neg, "", ("neg", "negative"), ("neg", "negative", "__neg__"))
    ew("pos", j_pos, "", ("positive",), ("positive", "__pos__"))
    ew("reciprocal", _unary(Series.reciprocal), "pole", ("reciprocal",), ("reciprocal",))
    ew("rsqrt", j_rsqrt, "pole", ("rsqrt",), ("rsqrt",))
    ew("square", j_square, "", ("square",), ("square",))
    for name, method, check in (
            ("sqrt", Series.sqrt, ""), ("exp", Series.exp, ""), ("expm1", Series.expm1, ""),
            ("log", Series.log, "pole"), ("log1p", Series.log1p, "pole"), ("sin", Series.sin, ""),
            ("cos", Series.cos, ""), ("tan", Series.tan, "pole"), ("sinh", Series.sinh, ""),
            ("cosh", Series.cosh, ""), ("tanh", Series.tanh, ""), ("sigmoid", Series.sigmoid, ""),
            ("asin", Series.asin, ""), ("arcsin", Series.asin, ""), ("acos", Series.acos, ""),
            ("arccos", Series.acos, ""), ("atan", Series.atan, ""), ("arctan", Series.atan, ""),
            ("asinh", Series.asinh, ""), ("arcsinh", Series.asinh, ""),
            ("acosh", Series.acosh, ""), ("arccosh", Series.acosh, ""),
            ("atanh", Series.atanh, "pole"), ("arctanh", Series.atanh, "pole"),
            ("erf", Series.erf, ""), ("erfc", Series.erfc, ""), ("abs", Series.abs, ""),
            ("absolute", Series.abs, "")):
        ew(name, _unary(method), check, (name,), (name,))
    reg(table[torch.abs], _methods("__abs__"))
    ew("exp2", j_exp2, "", ("exp2",), ("exp2",), (sp.exp2,))
    ew("log2", j_log2, "pole", ("log2",), ("log2",))
    ew("log10", j_log10, "pole", ("log10",), ("log10",))
    ew("sinc", j_sinc, "", ("sinc",), ("sinc",), (sp.sinc,))
    reg(table[torch.sigmoid], sp.expit, F.sigmoid)
    reg(table[torch.tanh], F.tanh)
    reg(table[torch.expm1], sp.expm1)
    reg(table[torch.log1p], sp.log1p)
    reg(table[torch.erf], sp.erf)
    reg(table[torch.erfc], sp.erfc)
    ew("relu", j_relu, "", ("relu",), ("relu",), (F.relu,))
    ew("leaky_relu", j_leaky_relu, "", (), (), (F.leaky_relu,))
    ew("elu", j_elu, "", (), (), (F.elu,))
    ew("celu", j_celu, "", (), (), (F.celu,))
    ew("selu", j_selu, "", ("selu",), (), (F.selu,))
    ew("softplus", j_softplus, "", (), (), (F.softplus,))
    ew("logsigmoid", j_logsigmoid, "", (), (), (F.logsigmoid,))
    ew("silu", j_silu, "", (), (), (F.silu,))
    ew("gelu", j_gelu, "", (), (), (F.gelu,))
    ew("mish", j_mish, "", (), (), (F.mish,))
    ew("softsign", j_softsign, "", (), (), (F.softsign,))
    ew("hardtanh", j_hardtanh, "", (), (), (F.hardtanh,))
    ew("clamp", j_clamp, "", ("clamp", "clip"), ("clamp", "clip"))
    ew("clamp_min", j_clamp_min, "", ("clamp_min",), ("clamp_min",))
    ew("clamp_max", j_clamp_max, "", ("clamp_max",), ("clamp_max",))
    ew("maximum", j_maximum, "", ("maximum", "fmax"), ("maximum", "fmax"))
    ew("minimum", j_minimum, "", ("minimum", "fmin"), ("minimum", "fmin"))
    ew("atan2", lambda S, input, other: S.atan2(input, other), "", ("atan2", "arctan2"),
       ("atan2", "arctan2"))
    ew("hypot", lambda S, input, other: S.hypot(input, other), "", ("hypot",), ("hypot",))
    ew("xlogy", j_xlogy, "pole", ("xlogy",), ("xlogy",), (sp.xlogy,))
    ew("logaddexp", j_logaddexp, "", ("logaddexp",), ("logaddexp",))
    ew("where", j_where, "", ("where",))
    ew("where_method", j_where_method, "", (), ("where",))
    ew("lerp", j_lerp, "", ("lerp",), ("lerp",))
    ew("addcmul", j_addcmul, "", ("addcmul",), ("addcmul",))
    ew("addcdiv", j_addcdiv, "div", ("addcdiv",), ("addcdiv",))
    for name, fn, jump in (
            ("sign", torch.sign, lambda x: x == 0), ("floor", torch.floor, lambda x: x == x.floor()),
            ("ceil", torch.ceil, lambda x: x == x.floor()), ("trunc", torch.trunc,
                                                             lambda x: x == x.floor()),
            ("round", torch.round, lambda x: (x - x.floor()) == 0.5)):
        ew(name, _step(fn, jump), "", (name,), (name,))
    for name, op, dunder in (("gt", operator.gt, "__gt__"), ("ge", operator.ge, "__ge__"),
                             ("lt", operator.lt, "__lt__"), ("le", operator.le, "__le__"),
                             ("eq", operator.eq, "__eq__"), ("ne", operator.ne, "__ne__")):
        ew(name, _comparison(op), "", (name,), (name, dunder))
    ew("greater", _comparison(operator.gt), "", ("greater",), ("greater",))
    ew("less", _comparison(operator.lt), "", ("less",), ("less",))
    ew("logical_not", _logical(torch.logical_not, unary=True), "", ("logical_not",),
       ("logical_not", "__invert__"))
    ew("logical_and", _logical(torch.logical_and), "", ("logical_and",),
       ("logical_and", "__and__", "__rand__"))
    ew("logical_or", _logical(torch.logical_or), "", ("logical_or",),
       ("logical_or", "__or__", "__ror__"))
    ew("logical_xor", _logical(torch.logical_xor), "", ("logical_xor",),
       ("logical_xor", "__xor__", "__rxor__"))
    ew("cast", j_cast, "", (), ("to", "float", "double", "half", "bfloat16", "type_as"))
    ew("zeros_like", j_like(lambda a, k: 0.0), "", ("zeros_like",))
    ew("ones_like", j_like(lambda a, k: 1.0), "", ("ones_like",))
    ew("full_like", j_like(lambda a, k: a[0] if a else k["fill_value"]), "", ("full_like",))

    move = Rule("move", "move")
    for name in ("reshape", "view", "flatten", "unflatten", "unsqueeze", "squeeze", "expand",
                 "expand_as", "broadcast_to", "permute", "transpose", "swapaxes", "swapdims",
                 "t", "movedim", "moveaxis", "flip", "fliplr", "flipud", "roll", "select",
                 "narrow", "repeat", "tile", "clone", "contiguous", "diagonal", "ravel",
                 "__getitem__", "index_select", "take", "gather", "view_as", "reshape_as",
                 "squeeze_", "unsqueeze_"):
        if name.endswith("_"):
            continue
        reg(move, getattr(torch, name, None) if not name.startswith("__") else None,
            _methods(name))
    reg(Rule("cat", "move", data="list"), torch.cat, torch.concat, torch.concatenate,
        torch.stack, torch.hstack, torch.vstack, torch.dstack, torch.column_stack)
    reg(Rule("split", "move", multi=True), torch.split, torch.chunk, torch.unbind,
        torch.tensor_split, _methods("split"), _methods("chunk"), _methods("unbind"),
        _methods("tensor_split"))
    return table


#: torch function or method -> its rule.
RULES: dict[Any, Rule] = _build()

#: the jet versions raise this for argument combinations they do not cover
Unsupported = _Unsupported
