"""Removable singularities under ``robust()``: recipes, the 0/0 check, and the series patch.

Under :func:`netgrad.ops.robust`, every elementwise or data-movement operation that
:mod:`._series_rules` knows attaches a small **recipe** to its output tensor: the operation and
its operands' recipes (a tensor made elsewhere is kept as a *leaf*, by reference). Only
operations that can create an indeterminate NaN check their result, once (one reduction and one
host read): a division of tensors (0/0, inf/inf), and a product or a sum of tensors that came
from a pole (1/x, log, tan: 0·inf, inf - inf). When the check finds elements that became NaN
there, and only then, the recipe is evaluated again at **those elements only** by truncated
Taylor arithmetic (:mod:`._series`), in float64, around the values the computation had:

* each leaf is a variable; for several variables the series runs along a few fixed directions
  and the value, gradient and Hessian are solved from them, with a consistency check (a limit
  that depends on the direction of approach, like x·y/(x² + y²) at 0, has no value);
* a continuous but non-analytic step (``sqrt`` or ``abs`` at 0, ``acos`` at 1, a tie in
  ``maximum``) becomes a variable of its own (a *cut*), so ``sin(sqrt(s))/sqrt(s)`` is expanded
  in ``sqrt(s)``;
* the result replaces the NaN elements by a polynomial in the variables around the centre
  (value, gradient and second derivatives exact; order 4 for one variable), which autograd
  differentiates like any other expression: create_graph, torch.func.grad and double backward
  work through it. A derivative of higher order than the polynomial is NaN, never a made-up 0.

Where no limit exists (an odd pole such as x/x², a direction-dependent limit, a jump, a NaN or
infinite centre, an operation the rules do not know) the element stays NaN and the non-finite
provenance reports it. An even pole (x/x³ at 0) is the true infinity it is.

What it costs when nothing is singular: a recipe per recorded operation (a few Python objects)
and, per checked operation, one sum and one host read (``bench/singularities.py``). The check
needs a host decision, so it is skipped while tracing (``torch.compile``), under ``vmap``, on
non-CPU devices and under ``NETGRAD_SYNC_FREE=1``; there a singular element stays NaN (see the
README's section on removable singularities).
"""

from __future__ import annotations

import contextlib
import functools
import math
import operator
import os
from typing import Any, Callable, Iterator

import torch
from torch.autograd import Function

from ._series import Bools, Jet, Series
from ._robust import RobustMode
from ._series_rules import RULES, Rule, Unsupported

__all__ = ["observe", "producer", "limits", "recording", "call", "taylor", "recipe_of"]

_ATTR = "_netgrad_recipe"
MAX_DEPTH = 200          # longer elementwise chains are not recorded (their output is a leaf)
MAX_VARIABLES = 8        # more distinct variables at one singular element: not resolved
WIDTHS = (8, 16, 32)     # stored coefficients tried in turn when cancellations use them up
_disable = torch._C.DisableTorchFunction


class Leaf:
    """A tensor made outside the recipe, kept by reference with its version."""

    __slots__ = ("t", "version")

    def __init__(self, t: torch.Tensor) -> None:
        self.t, self.version = t, t._version


class Node:
    """One recorded call: ``func(*args, **kwargs)`` with tensors replaced by recipes/leaves."""

    __slots__ = ("func", "rule", "args", "kwargs", "shape", "version", "inf", "depth", "index")

    def __init__(self, func, rule, args, kwargs, shape, version, inf, depth, index=None):
        self.func, self.rule, self.args, self.kwargs = func, rule, args, kwargs
        self.shape, self.version, self.inf, self.depth, self.index = (shape, version, inf,
                                                                       depth, index)


def recipe_of(t: torch.Tensor) -> Node | None:
    """The recipe recorded on ``t`` under robust(), if it is still valid (not modified since)."""
    r = t.__dict__.get(_ATTR) if hasattr(t, "__dict__") else None
    return r if r is not None and r.version == t._version else None


def producer(t: torch.Tensor) -> tuple[Callable, tuple, dict] | None:
    """``(torch function, args, kwargs)`` that made ``t`` under robust(), with each tensor
    argument replaced by its own recipe (:class:`Node`) or a :class:`Leaf`; None if unknown.
    For pattern rewrites that need to know how an operand was computed."""
    r = recipe_of(t)
    return None if r is None else (r.func, r.args, r.kwargs)


# ---- recording ---------------------------------------------------------------------------
def _ref(t: torch.Tensor):
    r = t.__dict__.get(_ATTR)
    if r is not None and r.version == t._version:
        return r
    return Leaf(t)


def _refs(seq, out: list) -> tuple:
    res = []
    for a in seq:
        if isinstance(a, torch.Tensor):
            r = _ref(a)
            out.append(r)
            res.append(r)
        elif isinstance(a, (list, tuple)) and a and isinstance(a[0], torch.Tensor):
            sub = tuple(_ref(x) if isinstance(x, torch.Tensor) else x for x in a)
            out.extend(x for x in sub if isinstance(x, (Node, Leaf)))
            res.append(type(a)(sub) if isinstance(a, list) else sub)
        else:
            res.append(a)
    return tuple(res)


def _enabled() -> bool:
    return _STATE.record and not torch.compiler.is_compiling()


class _State:
    record = True
    near = True


_STATE = _State()


@contextlib.contextmanager
def recording(on: bool = True) -> Iterator[None]:
    """Switch the series engine on or off inside a block (on by default everywhere)."""
    before = _STATE.record, _STATE.near
    _STATE.record = _STATE.near = on
    try:
        yield
    finally:
        _STATE.record, _STATE.near = before


def observe(func: Callable, args: tuple, kwargs: dict | None, result: Any) -> Any:
    """Record the recipe of ``result = func(*args, **kwargs)`` and, for the operations that
    can create 0/0, 0·inf or inf - inf, check it and patch its NaN elements by series.
    Returns ``result`` or its patched copy. Called by robust() after every operation."""
    rule = RULES.get(func)
    if rule is None or not _enabled() or (kwargs and kwargs.get("out") is not None):
        return result
    with _disable():
        try:
            return _observe(func, rule, args, kwargs or {}, result)
        except Unsupported:
            return result


def _observe(func, rule: Rule, args, kwargs, result):
    if type(result) is not torch.Tensor and not isinstance(result, torch.Tensor):
        return _observe_multi(func, rule, args, kwargs, result)
    if not (result.is_floating_point() or result.dtype == torch.bool):
        return result
    operands: list = []
    if rule.kind == "ew":
        rargs = []
        for a in args:
            if isinstance(a, torch.Tensor):
                if a is result:
                    return result  # in place or an identity: nothing new
                r = a.__dict__.get(_ATTR)
                if r is None or r.version != a._version:
                    r = Leaf(a)
                operands.append(r)
                rargs.append(r)
            else:
                rargs.append(a)
        rargs = tuple(rargs)
        rkwargs = dict(zip(kwargs, _refs(kwargs.values(), operands))) if kwargs else kwargs
    elif rule.data == "list":
        if not args or not isinstance(args[0], (list, tuple)):
            return result
        rargs = _refs(args[:1], operands) + tuple(args[1:])
        rkwargs = kwargs
    else:
        if not args or not isinstance(args[0], torch.Tensor) or args[0] is result:
            return result
        r0 = _ref(args[0])
        operands.append(r0)
        rargs = (r0,) + tuple(args[1:])
        rkwargs = kwargs
    if not operands:
        return result
    depth = 0
    flagged = 0
    for o in operands:
        if type(o) is Node:
            if o.depth > depth:
                depth = o.depth
            if o.inf:
                flagged += 1
    depth += 1
    if depth > MAX_DEPTH:
        return result
    check = rule.check
    node = Node(func, rule, rargs, rkwargs, result.shape, result._version,
                flagged > 0 or check == "pole" or check == "div", depth)
    result.__dict__[_ATTR] = node
    if not check or check == "pole":
        return result
    if check == "div":
        if len(operands) >= 2:
            return _near(node, _check(node, result, args, kwargs))
        if any(isinstance(a, (int, float)) and (a == 0 or not math.isfinite(a))
               for a in args[:2]):
            return _check(node, result, args, kwargs)
    elif (check == "mul" and flagged) or (check == "add" and flagged >= 2):
        return _check(node, result, args, kwargs)
    return result


def _observe_multi(func, rule: Rule, args, kwargs, result):
    """split, chunk, unbind: one recipe per output, each naming its index."""
    if not isinstance(result, (tuple, list)) or not rule.multi or not args or \
            not isinstance(args[0], torch.Tensor):
        return result
    r0 = _ref(args[0])
    depth = r0.depth + 1 if isinstance(r0, Node) else 1
    if depth > MAX_DEPTH:
        return result
    inf = isinstance(r0, Node) and r0.inf
    rargs = (r0,) + tuple(args[1:])
    for i, r in enumerate(result):
        if isinstance(r, torch.Tensor) and (r.is_floating_point() or r.dtype == torch.bool):
            r.__dict__[_ATTR] = Node(func, rule, rargs, kwargs, r.shape, r._version, inf,
                                     depth, i)
    return result


_SYNC_FREE = os.environ.get("NETGRAD_SYNC_FREE") == "1"


def _can_decide(t: torch.Tensor) -> bool:
    """Whether a host decision is allowed here (not traced, not vmapped, CPU, not sync-free)."""
    if _SYNC_FREE or t.device.type != "cpu":
        return False
    return not torch._C._functorch.is_batchedtensor(t)


def _check(node: Node, result: torch.Tensor, args, kwargs) -> torch.Tensor:
    if result.numel() == 0 or not _can_decide(result):
        return result
    y = result.detach()
    total = torch.sum(y).item()
    if math.isfinite(total):
        node.inf = False
        return result
    node.inf = True
    nan = torch.isnan(y)
    if not bool(nan.any()):
        return result
    created = nan
    for a in list(args) + list(kwargs.values()):
        if isinstance(a, torch.Tensor) and a.is_floating_point():
            created = created & ~torch.isnan(a.detach()).broadcast_to(y.shape)
    positions = created.reshape(-1).nonzero().squeeze(1)
    if positions.numel() == 0:
        return result
    values, ok = _patch(node, positions, result.dtype)
    if values is None or not bool(ok.any()):
        return result
    flat = result.reshape(-1)
    patched = flat.index_put((positions[ok],), values[ok]).view(result.shape)
    patched.__dict__[_ATTR] = Node(node.func, node.rule, node.args, node.kwargs, node.shape,
                                   patched._version, True, node.depth)
    return patched


# ---- near a removable singularity at 0 -----------------------------------------------------
#: Below these distances from a removable singularity at 0, a formula of one variable is
#: evaluated by its Taylor series there (where that series is accurate to the dtype). Outside,
#: the formula's own relative error in value, first and second derivative stays below the
#: figures of ``python bench/near_singular.py`` (float32: ~1e-2 in f'' at worst; float64: ~1e-7).
NEAR_RADIUS = {torch.float32: 0.1, torch.float64: 0.01}
NEAR_ORDER = 16
_NEAR_CACHE: dict = {}
_NEAR_CACHE_SIZE = 256


def _univariate_leaf(node: Node) -> Leaf | None:
    """The one variable leaf of an all-elementwise recipe, else None."""
    found: list = []
    seen: set = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if len(seen) > 64:
            return None
        if isinstance(n, Leaf):
            if _is_variable(n, None):
                if found and found[0].t is not n.t:
                    return None
                if not found:
                    found.append(n)
            elif n.t.dim() > 0:
                return None
            continue
        if n.rule.kind != "ew":
            return None
        for a in list(n.args) + list(n.kwargs.values()):
            if isinstance(a, (Node, Leaf)):
                stack.append(a)
            elif isinstance(a, (list, tuple)):
                return None
    return found[0] if found else None


def _structure(n, leaf: Leaf, memo: dict):
    """A hashable description of a univariate recipe (operations and constants)."""
    got = memo.get(id(n))
    if got is not None:
        return got
    if isinstance(n, Leaf):
        key = ("x",) if n.t is leaf.t else ("c", str(n.t.dtype), float(n.t.item()))
    else:
        def part(a):
            if isinstance(a, (Node, Leaf)):
                return _structure(a, leaf, memo)
            return a if isinstance(a, (int, float, bool, str, type(None), torch.dtype)) \
                else repr(a)
        key = (id(n.func), tuple(part(a) for a in n.args),
               tuple(sorted((k, part(a)) for k, a in n.kwargs.items())))
    memo[id(n)] = key
    return key


def _near_series(node: Node, leaf: Leaf, device) -> tuple | None:
    """Taylor coefficients at x = 0 of a division whose numerator and denominator both vanish
    there, or None."""
    pos = torch.zeros(1, dtype=torch.int64, device=device)
    try:
        with torch.no_grad():
            graph = _Graph(node, pos)
            root = graph.root
            res, vs = _evaluate(graph, 1, device, variables=[leaf.t], order=NEAR_ORDER,
                                centre=0.0, widths=(24, 40))
    except Unsupported:
        return None
    if res is None or res.uni is None or not bool(res.ok[0]) or bool(res.pole[0]):
        return None
    num, den = root.args[0], root.args[1]
    if node.rule.name == "rdiv":
        num, den = den, num
    for part in (num, den):  # removable at 0: both sides vanish there
        jet = part.jet if isinstance(part, _Inst) else None
        if not isinstance(jet, Jet) or float(jet.value[0]) != 0.0:
            return None
    return tuple(float(c) for c in res.uni[:, 0])


def _near_radius(c: tuple, dtype: torch.dtype, cap: float | None = None) -> float:
    """Where the series truncated after ``c`` is accurate to ``dtype`` for the value and the
    first two derivatives (estimated from the last coefficients)."""
    eps = torch.finfo(dtype).eps
    K = len(c) - 1
    tail = max(abs(c[K]), abs(c[K - 1]))
    r = NEAR_RADIUS[dtype] if cap is None else cap
    if tail == 0:
        return r
    for m in range(3):
        scale = max(abs(c[m]) * math.factorial(m), abs(c[0]), 1e-300)
        fall = math.perm(K, m)
        r = min(r, (eps * scale / (fall * tail)) ** (1.0 / (K - m)))
    return r


def _near(node: Node, result: torch.Tensor) -> torch.Tensor:
    """Elements close to a removable singularity at 0 of a one-variable formula: the formula
    cancels there (``1 - cos x`` at 1e-3 in float32 keeps one digit, and every backward of a
    quotient subtracts two large terms), so they are evaluated by the series at 0 instead."""
    R = NEAR_RADIUS.get(result.dtype)
    if R is None or not _STATE.near or result.numel() == 0 or not _can_decide(result):
        return result
    with _disable():
        leaf = _univariate_leaf(node)
        if leaf is None:
            return result
        x = leaf.t
        if x.dtype != result.dtype or \
                not torch.linalg.vector_norm(x.detach(), -math.inf).item() < R:
            return result
        key = (_structure(node, leaf, {}), str(result.dtype), x.device.type)
        if key in _NEAR_CACHE:
            found = _NEAR_CACHE[key]
        else:
            c = _near_series(node, leaf, x.device)
            found = None if c is None else (c, _near_radius(c, result.dtype))
            if len(_NEAR_CACHE) >= _NEAR_CACHE_SIZE:
                _NEAR_CACHE.pop(next(iter(_NEAR_CACHE)))
            _NEAR_CACHE[key] = found
        if found is None:
            return result
        coeffs, r = found
        flat_x = x.reshape(-1)
        every = torch.arange(result.numel(), device=x.device)
        xi = _broadcast_positions(every, tuple(result.shape), tuple(x.shape))
        close = flat_x.detach()[xi].abs() < r
        positions = close.nonzero().squeeze(1)
        if positions.numel() == 0:
            return result
        u = flat_x[xi[positions]]
        p = torch.full_like(u.detach(), coeffs[-1])
        for ck in reversed(coeffs[:-1]):
            p = p * u + ck
        patched = result.reshape(-1).index_put((positions,), p).view(result.shape)
        patched.__dict__[_ATTR] = Node(node.func, node.rule, node.args, node.kwargs, node.shape,
                                       patched._version, node.inf, node.depth)
        return patched


# ---- evaluation at positions ---------------------------------------------------------------
def _broadcast_positions(pos: torch.Tensor, out_shape: tuple, in_shape: tuple) -> torch.Tensor:
    """Flat indices into a tensor of ``in_shape`` that broadcasts to ``out_shape``."""
    if tuple(in_shape) == tuple(out_shape):
        return pos
    if len(in_shape) == 0 or math.prod(in_shape) == 1:
        return torch.zeros_like(pos)
    rem = pos
    idx = torch.zeros_like(pos)
    stride_in = 1
    offset = len(out_shape) - len(in_shape)
    for d in range(len(out_shape) - 1, -1, -1):
        size = out_shape[d]
        coord = rem % size
        rem = rem // size
        di = d - offset
        if di >= 0:
            if in_shape[di] != 1:
                idx = idx + coord * stride_in
            stride_in *= in_shape[di]
    return idx


def _shape_of(r) -> tuple:
    return r.shape if isinstance(r, Node) else tuple(r.t.shape)


def _numel(shape) -> int:
    return math.prod(shape) if shape else 1


class _Inst:
    """A recipe node or leaf at given flat output positions (one per singular element)."""

    __slots__ = ("obj", "pos", "args", "kwargs", "parts", "jet", "replayed")

    def __init__(self, obj, pos):
        self.obj, self.pos = obj, pos
        self.args = self.kwargs = self.parts = None
        self.jet = self.replayed = None


class _Graph:
    """The instances a singular element depends on, children before parents."""

    def __init__(self, root: Node, pos: torch.Tensor):
        self.memo: dict = {}
        self.order: list[_Inst] = []
        self.root = self._visit(root, pos)

    def _key(self, obj, pos):
        ident = id(obj.t) if isinstance(obj, Leaf) else id(obj)  # one variable per tensor
        return (ident, pos.numel(), hash(tuple(pos.tolist())))

    def _visit(self, obj, pos) -> _Inst:
        key = self._key(obj, pos)
        found = self.memo.get(key)
        if found is not None:
            return found
        inst = _Inst(obj, pos)
        self.memo[key] = inst
        if isinstance(obj, Leaf):
            if obj.t._version != obj.version:
                raise Unsupported  # modified in place since it was used
        elif obj.rule.kind == "ew":
            inst.args = tuple(self._operand(a, obj.shape, pos) for a in obj.args)
            inst.kwargs = {k: self._operand(a, obj.shape, pos) for k, a in obj.kwargs.items()}
        else:
            inst.parts = self._move(obj, pos)
        self.order.append(inst)
        return inst

    def _operand(self, a, out_shape, pos):
        if isinstance(a, (Node, Leaf)):
            return self._visit(a, _broadcast_positions(pos, out_shape, _shape_of(a)))
        if isinstance(a, (list, tuple)):
            return type(a)(self._operand(x, out_shape, pos) for x in a)
        return a

    def _move(self, node: Node, pos) -> list:
        """``[(child instance, slot mask or None)]`` for a data-movement node."""
        with torch.no_grad():
            if node.rule.data == "list":
                refs = [r for r in node.args[0]]
                offsets, aranges, start = [], [], 0
                for r in refs:
                    shape = _shape_of(r)
                    n = _numel(shape)
                    aranges.append(torch.arange(start, start + n, device=pos.device).view(shape))
                    offsets.append(start)
                    start += n
                out = node.func(aranges, *node.args[1:], **node.kwargs)
                fmap = out.reshape(-1)[pos]
                parts = []
                for r, off, a in zip(refs, offsets, aranges):
                    slot = (fmap >= off) & (fmap < off + a.numel())
                    child_pos = torch.where(slot, fmap - off, 0)
                    parts.append((self._visit(r, child_pos), slot))
                return parts
            r0 = node.args[0]
            shape = _shape_of(r0)
            base = torch.arange(_numel(shape), device=pos.device).view(shape)
            out = node.func(base, *node.args[1:], **node.kwargs)
            if node.index is not None:
                out = out[node.index]
            if tuple(out.shape) != tuple(node.shape):
                raise Unsupported
            return [(self._visit(r0, out.reshape(-1)[pos]), None)]


def _directions(n: int, device) -> torch.Tensor:
    """Fixed directions of approach (rows) for ``n`` variables: one for one variable, else
    ``n(n+1)/2 + 2`` with every component non-zero (so no direction runs along a coordinate
    plane where a formula may be 0/0 identically)."""
    if n == 1:
        return torch.ones(1, 1, dtype=torch.float64, device=device)
    m = n * (n + 1) // 2 + 2
    g = torch.Generator().manual_seed(16)
    mag = torch.rand(m, n, generator=g, dtype=torch.float64) + 0.5
    sign = torch.where(torch.rand(m, n, generator=g) < 0.5, -1.0, 1.0).to(torch.float64)
    return (mag * sign).to(device)


class _Variable:
    __slots__ = ("inst", "mask", "inf")

    def __init__(self, inst, mask=None, inf=None):
        self.inst, self.mask, self.inf = inst, mask, inf


class _Result:
    """Per singular element: validity and the patch polynomial's coefficients."""

    def __init__(self, M, device):
        self.ok = torch.zeros(M, dtype=torch.bool, device=device)
        self.c0 = torch.zeros(M, dtype=torch.float64, device=device)
        self.uni = None        # (K+1, M) for one variable
        self.grad = None       # (n, M)
        self.hess = None       # (n, n, M)
        self.order = 0
        self.pole = torch.zeros(M, dtype=torch.bool, device=device)


def _is_variable(leaf: Leaf, variables) -> bool:
    t = leaf.t
    if variables is not None:
        return any(t is v for v in variables)
    if not t.is_floating_point():
        return False
    return t.dim() > 0 or t.requires_grad


def _evaluate(graph: _Graph, M: int, device, variables=None, order: int | None = None,
              centre: float | None = None, widths=WIDTHS):
    """Jets of the root at the graph's positions: ``(_Result, [_Variable])``. With
    ``centre``, every variable leaf is expanded around that value instead of its own."""
    cuts: dict[int, _Variable] = {}
    for N in widths:
        while True:
            found = _run(graph, M, device, N, cuts, variables, order, centre)
            if isinstance(found, _Variable):  # a new cut: it becomes a variable, run again
                cuts[id(found.inst)] = found
                if len(cuts) > MAX_VARIABLES:
                    return None, []
                continue
            result, vs, need_more = found
            break
        if result is None:
            return None, []
        if not need_more or N == widths[-1]:
            return result, vs
    return None, []


def _run(graph, M, device, N, cuts, variables, order, centre=None):
    leaves = [i for i in graph.order if isinstance(i.obj, Leaf) and _is_variable(i.obj, variables)]
    vs = [_Variable(i) for i in leaves] + list(cuts.values())
    n = len(vs)
    if n == 0 or n > MAX_VARIABLES:
        return None, vs, False
    dirs = _directions(n, device)               # (D, n)
    D = dirs.shape[0]
    S = Series(N, D * M, device)
    index = {id(v.inst): j for j, v in enumerate(vs)}

    def rep(x: torch.Tensor) -> torch.Tensor:    # (M,) -> (D*M,)
        return x.to(torch.float64).repeat(D)

    def var_jet(j, centre):
        return S.variable(rep(centre), dirs[:, j].repeat_interleave(M))

    def sub(a):
        if isinstance(a, _Inst):
            return a.jet
        if isinstance(a, (list, tuple)):
            return type(a)(sub(x) for x in a)
        return a

    for inst in graph.order:
        obj = inst.obj
        if isinstance(obj, Leaf):
            t = obj.t.detach()
            vals = t.reshape(-1)[inst.pos]
            if id(inst) in index:
                inst.jet = var_jet(index[id(inst)], vals if centre is None else
                                   torch.full_like(vals, centre, dtype=torch.float64))
            elif t.dtype == torch.bool:
                inst.jet = Bools(vals.repeat(D), torch.zeros(D * M, dtype=torch.bool,
                                                             device=device))
            else:
                inst.jet = S.constant(rep(vals.to(torch.float64)))
            continue
        if obj.rule.kind == "ew":
            jet = obj.rule.jet(S, *sub(inst.args), **{k: sub(a) for k, a in inst.kwargs.items()})
            if not isinstance(jet, (Jet, Bools)):
                jet = S.constant(float(jet))
        else:
            jet = None
            for child, slot in inst.parts:
                cj = child.jet
                if slot is None:
                    jet = cj
                elif jet is None:
                    jet = cj
                else:
                    jet = _select(S, slot.repeat(D), cj, jet)
        if isinstance(jet, Jet) and id(inst) in cuts:
            cv = cuts[id(inst)]
            j = index[id(inst)]
            centre = torch.where(cv.mask, jet.value.view(D, M)[0], 0.0)
            jet = _select(S, cv.mask.repeat(D), var_jet(j, centre), jet)
        elif isinstance(jet, Jet) and jet.cut is not None:
            at = jet.cut.view(D, M)[0] & ~jet.bad.view(D, M)[0]
            if bool(at.any()):
                inf = jet.cut_inf.view(D, M)[0] if jet.cut_inf is not None else None
                return _Variable(inst, at, inf)
        inst.jet = jet
    root = graph.root.jet
    if not isinstance(root, Jet):
        return None, vs, False
    K = order if order is not None else (4 if n == 1 else 2)
    return _finish(S, root, dirs, M, K, vs)


def _finish(S, root, dirs, M, K, vs):
    result, need_more = _solve(S, root, dirs, M, K)
    return result, vs, need_more


def _select(S: Series, cond, a, b) -> Jet:
    if isinstance(a, Bools) and isinstance(b, Bools):
        return Bools(torch.where(cond, a.value, b.value),
                     torch.where(cond, a.ambiguous, b.ambiguous))
    out = S.select(cond, a, b)
    cut = None
    if a.cut is not None or b.cut is not None:
        fa = a.cut if a.cut is not None else torch.zeros_like(cond)
        fb = b.cut if b.cut is not None else torch.zeros_like(cond)
        cut = torch.where(cond, fa, fb)
    return Jet(out.c, out.v, out.n, out.bad, cut, None if cut is None else
               torch.where(cond, a.cut_inf if a.cut_inf is not None else torch.zeros_like(cond),
                           b.cut_inf if b.cut_inf is not None else torch.zeros_like(cond)))


def _solve(S: Series, root: Jet, dirs: torch.Tensor, M: int, K: int):
    """Value and derivatives per element from the root's series along each direction."""
    D, n = dirs.shape
    device = dirs.device
    res = _Result(M, device)
    res.order = K
    normal = S.normalize(root)
    c, known, pole = S.taylor(root)
    c = c.view(S.N, D, M)
    bad = root.bad.view(D, M).any(0)
    pole_dm = pole.view(D, M)
    short = (known.view(D, M) < K + 1) & ~pole_dm
    need_more = bool((short.any(0) & ~bad & ~pole_dm.any(0)).any())
    # even poles, the same sign along every direction: a true infinity
    v = normal.v.view(D, M)
    lead = normal.c[0].view(D, M)
    even_pole = pole_dm.all(0) & (v % 2 == 0).all(0) & \
        ((lead > 0).all(0) | (lead < 0).all(0)) & (v == v[:1]).all(0)
    regular = ~bad & ~short.any(0) & ~pole_dm.any(0)
    coeffs = c[:K + 1]                                # (K+1, D, M)
    scale = coeffs.abs().amax(dim=(0, 1)) + 1.0
    tol = 1e-9 * scale
    same_value = (coeffs[0] - coeffs[0, :1]).abs().amax(0) <= tol
    ok = regular & same_value
    res.c0 = torch.where(ok, coeffs[0, 0], 0.0)
    if n == 1:
        res.uni = torch.where(ok[None, :], coeffs[:, 0], 0.0)
    else:
        K = min(K, 2)
        res.order = K
        g, r1 = _lstsq(dirs, coeffs[1])               # a1(d) = g·d
        ok = ok & (r1 <= tol)
        rows = []
        pairs = [(i, j) for i in range(n) for j in range(i, n)]
        for i, j in pairs:
            rows.append(dirs[:, i] * dirs[:, j] * (0.5 if i == j else 1.0))
        h, r2 = _lstsq(torch.stack(rows, 1), coeffs[2])  # a2(d) = ½ dᵀHd
        ok = ok & (r2 <= tol)
        H = torch.zeros(n, n, M, dtype=torch.float64, device=device)
        for (i, j), hij in zip(pairs, h):
            H[i, j] = hij
            H[j, i] = hij
        res.grad = torch.where(ok[None, :], g, 0.0)
        res.hess = torch.where(ok[None, None, :], H, 0.0)
    inf_value = even_pole & ~bad
    res.c0 = torch.where(inf_value, lead[0] * math.inf, res.c0)
    res.ok = ok | inf_value
    res.pole = inf_value
    return res, need_more


def _lstsq(A: torch.Tensor, b: torch.Tensor):
    """Least squares ``A x = b`` for each column of ``b`` (D, M); residual max-norm per column."""
    x = torch.linalg.lstsq(A, b).solution
    r = (A @ x - b).abs().amax(0)
    return x, r


# ---- the patch -----------------------------------------------------------------------------
class _Beyond(Function):
    """A function of value 0 whose derivatives below order ``k`` are 0 and whose derivative of
    order ``k`` is NaN (where the incoming gradient is not 0): it marks the orders the patch
    polynomial does not know."""

    generate_vmap_rule = True

    @staticmethod
    def forward(s, k):
        return torch.zeros_like(s)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])
        ctx.k = inputs[1]

    @staticmethod
    def jvp(ctx, t, _k):
        (s,) = ctx.saved_tensors
        d = _Beyond.apply(s, ctx.k - 1) if ctx.k > 1 else s * math.nan + math.nan
        return torch.where(t == 0, 0.0, t * d)

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        if ctx.k > 1:
            d = _Beyond.apply(s, ctx.k - 1)
        else:
            d = s * math.nan + math.nan
        return torch.where(g == 0, 0.0, g * d), None


class _StrongZeroCall(Function):
    """A replayed elementwise operation that has no robust counterpart, with the strong-zero
    rule in its backward: an incoming gradient of exactly 0 gives exactly 0 (torch's own acos
    backward at 1 would give 0·inf = NaN). Operands are the gathered ``(M,)`` tensors."""

    @staticmethod
    def forward(call, *xs):
        return call(*xs)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.call = inputs[0]
        ctx.save_for_backward(*inputs[1:])
        ctx.save_for_forward(*inputs[1:])

    @staticmethod
    def jvp(ctx, _call, *ts):
        xs = ctx.saved_tensors
        ts = [t if t is not None else torch.zeros_like(x) for t, x in zip(ts, xs)]
        _, out = torch.func.jvp(ctx.call, tuple(xs), tuple(ts))
        zero = functools.reduce(operator.and_, [t == 0 for t in ts])
        return torch.where(zero, 0.0, out)

    @staticmethod
    def backward(ctx, g):
        xs = ctx.saved_tensors
        _, vjp = torch.func.vjp(ctx.call, *xs)
        grads = vjp(g)
        return (None, *(torch.where(g == 0, 0.0, r) for r in grads))


def _call_unrouted(func, args, kwargs):
    slots = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor) and
             a.is_floating_point()]
    if not slots:
        return func(*args, **kwargs)

    def call(*xs):
        full = list(args)
        for i, x in zip(slots, xs):
            full[i] = x
        return func(*full, **kwargs)
    return _StrongZeroCall.apply(call, *(args[i] for i in slots))


def _replay(inst: _Inst) -> torch.Tensor:
    """The value of an instance recomputed from its leaves with the robust operations,
    differentiable (used for the variables that cuts introduce)."""
    if inst.replayed is not None:
        return inst.replayed
    obj = inst.obj
    if isinstance(obj, Leaf):
        out = obj.t.reshape(-1)[inst.pos]
    elif obj.rule.kind == "ew":
        from ._robust import robust_counterpart

        def sub(a):
            if isinstance(a, _Inst):
                return _replay(a)
            if isinstance(a, (list, tuple)):
                return type(a)(sub(x) for x in a)
            return a
        args = sub(inst.args)
        kwargs = {k: sub(a) for k, a in inst.kwargs.items()}
        handler = robust_counterpart(obj.func)
        out = handler(*args, **kwargs) if handler is not None else NotImplemented
        if out is NotImplemented:
            out = _call_unrouted(obj.func, args, kwargs)
    else:
        out = None
        for child, slot in inst.parts:
            r = _replay(child)
            out = r if out is None or slot is None else torch.where(slot, r, out)
    inst.replayed = out
    return out


def _patch(node: Node, positions: torch.Tensor, dtype: torch.dtype, variables=None):
    """``(values, ok)`` for the elements at ``positions`` of ``node``'s output."""
    M = positions.numel()
    device = positions.device
    try:
        with torch.no_grad():
            graph = _Graph(node, positions)
            res, vs = _evaluate(graph, M, device, variables)
    except Unsupported:
        return None, None
    if res is None or not bool(res.ok.any()):
        return None, None
    return _polynomial(res, vs, dtype), res.ok


def _polynomial(res: _Result, vs: list, dtype: torch.dtype) -> torch.Tensor:
    us = [_replay(v.inst).to(dtype) for v in vs]
    ds = [u - u.detach() for u in us]
    cast = {"dtype": dtype}
    out = res.c0.to(**cast)
    if res.uni is not None:
        d = ds[0]
        power = d
        for k in range(1, res.order + 1):
            out = out + res.uni[k].to(**cast) * power
            power = power * d
    else:
        n = len(ds)
        for i in range(n):
            out = out + res.grad[i].to(**cast) * ds[i]
            for j in range(n):
                out = out + 0.5 * res.hess[i, j].to(**cast) * ds[i] * ds[j]
    total = sum(ds)
    if isinstance(total, torch.Tensor) and total.requires_grad:
        out = out + _Beyond.apply(total, res.order + 1)
        for j, v in enumerate(vs):  # an infinite derivative met by a zero one: 0·inf
            if v.inf is not None and ds[j].requires_grad:
                g = res.uni[1] if res.uni is not None else res.grad[j]
                unknown = (v.inf & (g == 0)).to(dtype)
                out = out + unknown * _Beyond.apply(ds[j], 1)
        if bool(res.pole.any()):
            out = out + res.pole.to(dtype) * _Beyond.apply(total, 1)
    return out


# ---- entry points --------------------------------------------------------------------------
class LimitsMode(RobustMode):
    """robust() with the series engine: after each operation, :func:`observe`."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        result = RobustMode.__torch_function__(self, func, types, args, kwargs)
        return observe(func, args, kwargs, result)


def _active() -> bool:
    if not torch._C._is_torch_function_mode_enabled():
        return False
    return any(isinstance(m, LimitsMode) for m in torch.overrides._get_current_function_mode_stack())


@contextlib.contextmanager
def limits() -> Iterator[None]:
    """robust() with removable singularities resolved by series inside this block."""
    if _active():
        yield
        return
    with LimitsMode():
        yield


def call(fn: Callable[..., Any], *xs: Any) -> Any:
    """``fn(*xs)`` under robust(), with removable singularities resolved by series: the entry
    point of ElementwiseLayer, ThreadingLayer and FunctionLayer.

    Each argument is a variable of its own, even when two ports were given the same tensor
    (a net that wires one output into both inputs of ``x / y``): ``x / y`` at (0, 0) has no
    limit, whatever the wiring."""
    seen: set = set()
    args = []
    for x in xs:
        if isinstance(x, torch.Tensor):
            if id(x) in seen:
                x = x.view_as(x)
            seen.add(id(x))
        args.append(x)
    with limits():
        return fn(*args)


def taylor(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
           order: int = 2) -> torch.Tensor:
    """The Taylor coefficients of an elementwise function at every element of ``x``.

    ``fn`` is plain torch code (run under robust()); its value at a removable singularity is
    the limit. Returns float64 ``(order + 1, *y.shape)``: ``out[k] = f⁽ᵏ⁾(x)/k!``; NaN where
    no series exists (a pole, a jump, an operation the series engine does not know).

    Args:
        fn: a function of one tensor, elementwise (its output element ``i`` depends on input
            element ``i``, or on broadcast elements of ``x``).
        x: the points, any shape.
        order: the highest coefficient returned.
    """
    x = x.detach()
    with limits():
        y = fn(x)
    node = recipe_of(y) if isinstance(y, torch.Tensor) else None
    if node is None:
        raise TypeError("taylor() needs a function made of the elementwise operations the "
                        "series engine knows (see netgrad.ops._series_rules); got "
                        f"{type(y).__name__} without a recipe")
    M = _numel(node.shape)
    device = x.device
    positions = torch.arange(M, device=device)
    with torch.no_grad(), _disable():
        graph = _Graph(node, positions)
        res, vs = _evaluate(graph, M, device, variables=[x], order=order)
    out = torch.full((order + 1, M), math.nan, dtype=torch.float64, device=device)
    if res is not None and res.uni is not None:
        out = torch.where(res.ok[None, :] & ~res.pole[None, :], res.uni[:order + 1], math.nan)
    return out.view(order + 1, *node.shape)


class Removable:
    """``fn`` with a removable singularity at ``at``, evaluated by its Taylor series near it.

    Made by :func:`removable`. ``coefficients`` are the series' (float64, computed once, at
    construction, by the series engine); ``radius(dtype)`` is where the series is used: the
    distance from ``at`` within which its truncation error is below the dtype's rounding for the
    value and the first two derivatives. Branch-free (two ``where``; the formula never sees the
    singular point), so it works under ``torch.compile``, ``vmap`` and on any device.
    """

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], at: float = 0.0,
                 order: int = NEAR_ORDER) -> None:
        self.fn, self.at, self.order = fn, float(at), int(order)
        c = taylor(fn, torch.tensor([self.at], dtype=torch.float64), self.order)[:, 0]
        if not bool(torch.isfinite(c).all()):
            raise ValueError(f"removable(): {getattr(fn, '__name__', 'the function')} has no "
                             f"Taylor series at {self.at} (a pole, a jump, or an operation the "
                             "series engine does not know); got coefficients "
                             f"{[float(v) for v in c[:4]]}...")
        self.coefficients = tuple(float(v) for v in c)
        self._radius = {dt: _near_radius(self.coefficients, dt, cap=math.inf)
                        for dt in (torch.float32, torch.float64)}
        self.__name__ = getattr(fn, "__name__", "removable")

    def radius(self, dtype: torch.dtype) -> float:
        return self._radius.get(dtype, self._radius[torch.float32])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        from ._robust import robust

        r = self.radius(x.dtype)
        d = x - self.at
        close = torch.abs(d) < r
        # the formula is evaluated only away from the singular point, so neither branch holds a
        # NaN and plain torch.where keeps every gradient finite
        safe = torch.where(close, self.at + 2 * r, x)
        if torch.compiler.is_compiling():  # robust() mode is not traced yet: the formula only
            far = self.fn(safe)            # meets regular points here, where both agree
        else:
            with robust():
                far = self.fn(safe)
        p = torch.full_like(d, self.coefficients[-1])
        for ck in reversed(self.coefficients[:-1]):
            p = p * d + ck
        return torch.where(close, p, far)


def removable(fn: Callable[[torch.Tensor], torch.Tensor], at: float = 0.0,
              order: int = NEAR_ORDER) -> Removable:
    """``fn`` evaluated by its own Taylor series (found by the series engine) where ``x`` is
    close to ``at``, and by the formula elsewhere: accurate value and derivatives near a
    removable singularity, e.g. ``removable(lambda x: (1 - torch.cos(x)) / x**2)`` at 1e-8.

    Args:
        fn: an elementwise function of one tensor, plain torch code.
        at: the singular point.
        order: the degree of the Taylor polynomial.
    """
    return Removable(fn, at, order)
