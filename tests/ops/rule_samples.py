"""Sample calls for every rule in the registry, used by the PyTorch 2 tests (torch.func,
torch.compile, the sync-free path).

``SAMPLES[name]`` is a list of ``Sample``s: ``args`` builds the operands and parameters in a
dtype (tensors that should be differentiated are floating point), and ``call`` applies the
public operation to them. Each list holds a regular point and the rule's adversarial points
(zeros, ties, the unused branch of a where, infinities). A rule registered without samples
fails ``test_every_rule_has_samples``: add its samples here.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Callable

import torch

from netgrad import ops
from netgrad.ops import _linalg, _pooling, _registry


@dataclass
class Sample:
    args: Callable[[torch.dtype], tuple]
    call: Callable
    #: indices of the tensor arguments to differentiate (default: every floating tensor)
    wrt: tuple[int, ...] | None = None
    #: whether second derivatives are finite there (hessian / double backward checked)
    second: bool = True
    #: "regular" points are also compared with finite-difference-free autograd of torch's own op
    label: str = ""

    def inputs(self, dtype):
        a = self.args(dtype)
        wrt = self.wrt if self.wrt is not None else tuple(
            i for i, v in enumerate(a) if isinstance(v, torch.Tensor) and v.is_floating_point())
        return a, wrt


def _t(values, dtype):
    return torch.tensor(values, dtype=dtype)


def _u(lo, hi, shape=(3, 4), seed=0):
    def make(dtype):
        g = torch.Generator().manual_seed(seed)
        return (torch.rand(shape, generator=g, dtype=torch.float64).mul(hi - lo).add(lo)
                .to(dtype),)
    return make


def _unary(name, lo, hi, special=None, second=True):
    op = getattr(ops, name)
    out = [Sample(_u(lo, hi), op, label="regular")]
    if special is not None:
        out.append(Sample(lambda d: (_t(special, d),), op, second=second, label="special"))
    return out


_INF = math.inf

SAMPLES: dict[str, list[Sample]] = {
    "sqrt": _unary("sqrt", 0.5, 3.0, [0.0, 1e-30, 4.0], second=False),
    "exp": _unary("exp", -2.0, 2.0, [-_INF, 0.0, 80.0]),
    "log": _unary("log", 0.5, 3.0, [0.0, 1e-30, 2.0], second=False),
    "log1p": _unary("log1p", -0.5, 3.0, [-1.0, 0.0, 1e-8], second=False),
    "expm1": _unary("expm1", -2.0, 2.0, [-_INF, 0.0, 1e-8]),
    "abs": _unary("abs", -2.0, 2.0, [0.0, -0.0, 3.0]),
    "ramp": _unary("ramp", -2.0, 2.0, [0.0, -1.0, 3.0]),
    "sign": _unary("sign", -2.0, 2.0, [0.0, -1.0, 3.0]),
    "tanh": _unary("tanh", -2.0, 2.0, [0.0, 20.0, -30.0]),
    "logistic_sigmoid": _unary("logistic_sigmoid", -3.0, 3.0, [0.0, 40.0, -40.0]),
    "softplus": [Sample(_u(-3.0, 3.0), ops.softplus, label="regular"),
                 Sample(lambda d: (_t([0.0, 25.0, -30.0], d), 1.0, 20.0), ops.softplus,
                        wrt=(0,), label="special")],
    "sin": _unary("sin", -3.0, 3.0, [0.0, math.pi, -1e-8]),
    "cos": _unary("cos", -3.0, 3.0, [0.0, math.pi, -1e-8]),
    "sinc": _unary("sinc", -2.0, 2.0, [0.0, 1e-9, 1.0]),
    "mul": [Sample(lambda d: (_u(-2, 2)(d)[0], _u(-2, 2, (4,), 1)(d)[0]), ops.mul,
                   label="regular"),
            Sample(lambda d: (_t([0.0, 2.0, _INF], d), _t([_INF, 0.0, 3.0], d)), ops.mul,
                   second=False, label="zero times inf"),
            Sample(lambda d: (_u(-2, 2)(d)[0], 3.0), ops.mul, label="number")],
    "szmul": [Sample(lambda d: (_t([0.0, 2.0, 1.5], d), _t([_INF, 0.0, 3.0], d)),
                     _registry.szmul, second=False, label="zero times inf")],
    "div": [Sample(lambda d: (_u(-2, 2)(d)[0], _u(0.5, 2, (4,), 1)(d)[0]), ops.div,
                   label="regular"),
            Sample(lambda d: (_u(-2, 2)(d)[0], 3.0), ops.div, label="number"),
            Sample(lambda d: (_t([0.0, 1.0, 2.0], d), _t([1.0, _INF, 4.0], d)), ops.div,
                   second=False, label="infinite divisor")],
    "pow": [Sample(lambda d: (_u(0.5, 2)(d)[0], _u(0.5, 3, (4,), 1)(d)[0]), ops.pow,
                   label="regular"),
            Sample(lambda d: (_t([0.0, 2.0, 3.0], d), _t([0.0, 0.5, 2.0], d)), ops.pow,
                   second=False, label="x = 0 and p = 0"),
            Sample(lambda d: (_u(-2, 2)(d)[0], 2.0), ops.pow, label="number exponent")],
    "where": [Sample(lambda d: (_t([True, False, True], torch.bool), _t([1.0, -1.0, 4.0], d),
                                _t([2.0, 3.0, -1.0], d)), ops.where, label="regular"),
              Sample(lambda d: (_t([1.0, -1.0, 4.0], d),),
                     lambda x: ops.where(x > 0, ops.sqrt(x), 0.0), label="where trap")],
    "maximum": [Sample(lambda d: (_t([1.0, 2.0, 3.0], d), _t([3.0, 2.0, 1.0], d)),
                       ops.maximum, label="tie")],
    "minimum": [Sample(lambda d: (_t([1.0, 2.0, 3.0], d), _t([3.0, 2.0, 1.0], d)),
                       ops.minimum, label="tie")],
    "clip_numbers": [Sample(lambda d: (_t([-2.0, -1.0, 0.5, 1.0, 3.0], d), -1.0, 1.0),
                            ops.clip, wrt=(0,), label="at the bounds")],
    # normalization (ops/_normalization.py): a regular point, constant slices (eps > 0 and
    # eps = 0: x̂ = 0 with gradient 0), one value per channel
    "batch_norm": [
        Sample(lambda d: (_u(-2, 2, (4, 3, 2))(d)[0], _u(0.5, 2, (3,), 1)(d)[0],
                          _u(-1, 1, (3,), 2)(d)[0]),
               lambda x, w, b: ops.batch_norm(x, None, None, w, b, True, 0.1, 1e-3),
               label="regular"),
        Sample(lambda d: (torch.full((3, 2, 2), 0.7, dtype=d), _t([2.0, -1.0], d)),
               lambda x, w: ops.batch_norm(x, None, None, w, None, True, 0.1, 1e-3),
               label="constant channels"),
        Sample(lambda d: (_t([[1.5, -2.0]], d), _t([2.0, -1.0], d)),
               lambda x, w: ops.batch_norm(x, None, None, w, None, True, 0.1, 1e-3),
               label="one value per channel"),
        Sample(lambda d: (torch.full((3, 2, 2), 0.7, dtype=d), _t([2.0, -1.0], d)),
               lambda x, w: ops.batch_norm(x, None, None, w, None, True, 0.1, 0.0),
               label="constant channels, eps 0")],
    "layer_norm": [
        Sample(lambda d: (_u(-2, 2, (3, 4))(d)[0], _u(0.5, 2, (4,), 1)(d)[0],
                          _u(-1, 1, (4,), 2)(d)[0]),
               lambda x, w, b: ops.layer_norm(x, (4,), w, b, 1e-5), label="regular"),
        Sample(lambda d: (torch.tensor([[3.0, 3.0, 3.0], [0.0, 1.0, -1.0]], dtype=d),),
               lambda x: ops.layer_norm(x, (3,), eps=0.0), label="constant row, eps 0")],
    "group_norm": [
        Sample(lambda d: (_u(-2, 2, (2, 4, 3))(d)[0], _u(0.5, 2, (4,), 1)(d)[0],
                          _u(-1, 1, (4,), 2)(d)[0]),
               lambda x, w, b: ops.group_norm(x, 2, w, b, 1e-5), label="regular"),
        Sample(lambda d: (torch.full((2, 4, 3), -1.25, dtype=d),),
               lambda x: ops.group_norm(x, 2, eps=0.0), label="constant groups, eps 0")],
    "rms_norm": [
        Sample(lambda d: (_u(-2, 2, (3, 4))(d)[0], _u(0.5, 2, (4,), 1)(d)[0]),
               lambda x, w: ops.rms_norm(x, (4,), w), label="regular"),
        Sample(lambda d: (torch.tensor([[0.0, 0.0, 0.0], [0.0, 1.0, -2.0]], dtype=d),),
               lambda x: ops.rms_norm(x, (3,), eps=0.0), label="zero row, eps 0")],
    # attention (ops/_attention.py): regular, a boolean mask with a fully masked query row,
    # an additive mask with -inf (the row's gradient is 0, never NaN)
    "scaled_dot_product_attention": [
        Sample(lambda d: (_u(-1, 1, (1, 2, 3, 2))(d)[0], _u(-1, 1, (1, 2, 4, 2), 1)(d)[0],
                          _u(-1, 1, (1, 2, 4, 3), 2)(d)[0]),
               ops.scaled_dot_product_attention, label="regular"),
        Sample(lambda d: (_u(-1, 1, (2, 3, 2))(d)[0], _u(-1, 1, (2, 4, 2), 1)(d)[0],
                          _u(-1, 1, (2, 4, 2), 2)(d)[0]),
               lambda q, k, v: ops.scaled_dot_product_attention(
                   q, k, v, torch.tensor([[True, False, True, True], [False] * 4,
                                          [True, True, False, False]])),
               label="a fully masked row"),
        Sample(lambda d: (_u(-1, 1, (1, 3, 2))(d)[0], _u(-1, 1, (1, 3, 2), 1)(d)[0],
                          _u(-1, 1, (1, 3, 2), 2)(d)[0],
                          torch.tensor([[0.0, -math.inf, 0.5], [-math.inf] * 3, [0.3, 0.0, -1.0]],
                                       dtype=d)),
               ops.scaled_dot_product_attention, wrt=(0, 1, 2), label="additive -inf")],
    # softmax (ops/_softmax.py): regular, a fully masked slice, a masked entry
    "softmax": [
        Sample(lambda d: (_u(-2, 2, (3, 4))(d)[0],), lambda x: ops.softmax(x, 1), label="regular"),
        Sample(lambda d: (_t([[-_INF, -_INF, -_INF], [0.5, -_INF, 1.0]], d),),
               lambda x: ops.softmax(x, -1), label="masked slices")],
    "log_softmax": [
        Sample(lambda d: (_u(-2, 2, (3, 4))(d)[0],), lambda x: ops.log_softmax(x, 0),
               label="regular"),
        Sample(lambda d: (_t([[-_INF, -_INF, -_INF], [0.5, -_INF, 1.0]], d),),
               lambda x: ops.log_softmax(x, -1), label="masked slices")],
    # matrix products (ops/_linalg.py): regular, broadcasting and vectors, an exact zero factor
    "matmul": [
        Sample(lambda d: (_u(-2, 2, (3, 4))(d)[0], _u(-2, 2, (4, 2), 1)(d)[0]), ops.matmul,
               label="regular"),
        Sample(lambda d: (_u(-2, 2, (2, 3, 4))(d)[0], _u(-2, 2, (4,), 1)(d)[0]), ops.matmul,
               label="batch times vector"),
        Sample(lambda d: (_u(-2, 2, (3,))(d)[0], _u(-2, 2, (2, 3, 2), 1)(d)[0]), ops.matmul,
               label="vector times batch"),
        Sample(lambda d: (_t([[0.0, 1.0], [2.0, 0.0]], d), _t([[1.0, -1.0], [0.0, 3.0]], d)),
               ops.matmul, label="zero factors")],
    "strong_matmul": [
        Sample(lambda d: (_t([[0.0, 1.0], [2.0, 0.0]], d), _t([[_INF, -1.0], [0.0, 3.0]], d)),
               _linalg._strong_matmul, wrt=(0,), second=False, label="zero times inf")],
    "linear": [
        Sample(lambda d: (_u(-2, 2, (3, 4))(d)[0], _u(-1, 1, (2, 4), 1)(d)[0],
                          _u(-1, 1, (2,), 2)(d)[0]), ops.linear, label="regular"),
        Sample(lambda d: (_u(-2, 2, (2, 3, 4))(d)[0], _u(-1, 1, (2, 4), 1)(d)[0]), ops.linear,
               label="batched, no bias"),
        Sample(lambda d: (_t([[0.0, 0.0], [1.0, 3.0]], d), _t([[1.0, 2.0]], d)),
               lambda x, w: ops.sqrt(ops.linear(x, w)), second=False,
               label="zero input under sqrt")],
    # reductions (ops/_reductions.py): regular, zeros among the factors (one, two), an
    # infinite factor against a zero; logsumexp with masked and +inf slices
    "prod": [
        Sample(lambda d: (_u(0.5, 2, (3, 4))(d)[0],), lambda x: ops.prod(x, 1), label="regular"),
        Sample(lambda d: (_t([[0.0, 2.0, 3.0], [0.0, 0.0, 5.0], [1.5, -2.0, 4.0]], d),),
               lambda x: ops.prod(x, -1), label="zeros"),
        Sample(lambda d: (_t([[0.0, 2.0, 3.0, 1.0], [4.0, 0.0, 0.5, 2.0]], d),),
               lambda x: ops.prod(x, (0, 1), keepdim=True), label="zeros, all dims")],
    "cumprod": [
        Sample(lambda d: (_u(0.5, 2, (3, 4))(d)[0],), lambda x: ops.cumprod(x, 1),
               label="regular"),
        Sample(lambda d: (_t([[2.0, 0.0, 3.0, 0.5], [0.0, 1.5, 0.0, 2.0]], d),),
               lambda x: ops.cumprod(x, -1), label="zeros")],
    "logsumexp": [
        Sample(lambda d: (_u(-2, 2, (3, 4))(d)[0],), lambda x: ops.logsumexp(x, 1),
               label="regular"),
        Sample(lambda d: (_t([[-_INF, -_INF, -_INF], [0.5, -_INF, 1.0]], d),),
               lambda x: ops.logsumexp(x, -1), label="masked slices")],
    # pooling (ops/_pool_max.py, ops/_pooling.py): disjoint blocks with ties (the even split),
    # overlapping windows with padding, and ceil_mode's partial windows
    "max_pool": [
        Sample(lambda d: (_t([[[1.0, 3.0, 3.0, 2.0, 0.0, 0.0, 5.0, -1.0]]], d),),
               lambda x: ops.max_pool1d(x, 2), label="ties in blocks"),
        Sample(lambda d: (_u(-2, 2, (1, 2, 5, 4))(d)[0],),
               lambda x: ops.max_pool2d(x, 3, stride=2, padding=1), label="overlap, padding"),
        Sample(lambda d: (_t([[[2.0, 2.0, 2.0], [0.5, 4.0, 4.0], [1.0, 1.0, -3.0]]], d),),
               lambda x: ops.max_pool2d(x, 2, stride=1, ceil_mode=True),
               label="overlapping ties, ceil_mode")],
    # LP and power mean with a learned p: regular, zeros and an all-zero window, p = 0 (the
    # geometric mean), overlapping windows with padding and one p per channel
    "power_pool": [
        Sample(lambda d: (_u(0.2, 2, (2, 2, 6))(d)[0], _t(2.5, d)),
               lambda x, p: ops.lp_pool1d(x, p, 3), label="regular"),
        Sample(lambda d: (_t([[[0.0, 2.0, -1.0, 0.0, 0.0, 0.0]]], d), _t(3.0, d)),
               lambda x, p: ops.lp_pool1d(x, p, 3), second=False,
               label="zeros and an all-zero window"),
        Sample(lambda d: (_u(0.2, 2, (1, 2, 6), 3)(d)[0], _t(0.0, d)),
               lambda x, p: ops.power_mean_pool1d(x, p, 2), label="p = 0, geometric mean"),
        Sample(lambda d: (_u(-2, 2, (1, 2, 4, 5), 4)(d)[0], _t([1.5, 3.0], d)),
               lambda x, p: ops.power_mean_pool2d(x, p, 3, stride=2, padding=1),
               label="overlap, padding, p per channel")],
    "pow_log": [
        Sample(lambda d: (_t([0.5, -1.5, 2.0], d), _t([1.5, 2.0, 0.5], d)),
               lambda u, r: _pooling._pow_log(u, r, 1, 0), label="regular"),
        Sample(lambda d: (_t([0.0, -1.5, 2.0], d), _t([2.5, 3.0, 2.0], d)),
               lambda u, r: _pooling._pow_log(u, r, 0, 1), second=False, label="u = 0")],
}


def exact(request):
    """The context a parametrized test of ``case`` runs in: :func:`netgrad.ops.careful` for an
    optimistic rule (its sync-free path may give NaN where a 0 · inf met inside a sum, and is
    exact under careful(), as the trainer's replay runs it), else nothing."""
    spec = getattr(request.node, "callspec", None)
    case = spec.params.get("case") if spec is not None else None
    rule = _registry.RULES.get(case[0]) if case else None
    return ops.careful() if rule is not None and rule.optimistic else contextlib.nullcontext()


def samples():
    """(rule name, index, sample) for every sample, for pytest parametrization."""
    return [(name, i, s) for name, ss in SAMPLES.items() for i, s in enumerate(ss)]


def sample_id(item) -> str:
    name, i, s = item
    return f"{name}-{s.label or i}"
