"""Evaluating a recipe by series at some of its output elements.

:class:`Graph` walks a recipe from the node whose output holds the singular elements down to its
leaves, mapping the elements' flat positions through broadcasting and data movement, so every
instance (a node or leaf at the positions it contributes) is evaluated for those elements only.
:func:`evaluate` then runs the jets (:mod:`._series`) over the graph, children first:

* every leaf tensor is a variable (0-dim tensors that need no gradient, and integer or boolean
  tensors, are constants); with one variable its jet is ``centre + t``; with ``n`` variables
  the jets run along ``n(n+1)/2 + 2`` fixed directions at once and :func:`solve` recovers the
  value, gradient and Hessian by least squares, with a consistency check that rejects limits
  depending on the direction of approach;
* an operation that is continuous but not analytic at the centre (a *cut*: ``sqrt`` at 0, a tie
  of ``maximum``) becomes a variable of its own, and the evaluation runs again;
* when cancellations use up the stored coefficients, it runs again with more.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ._series import Bools, Jet, Series
from ._series_recipe import Leaf, Node, broadcast_positions, numel, shape_of
from ._series_rules import Unsupported

__all__ = ["Inst", "Graph", "Variable", "Result", "evaluate", "is_variable",
           "MAX_VARIABLES", "WIDTHS"]

MAX_VARIABLES = 8        # more distinct variables at one singular element: not resolved
WIDTHS = (8, 16, 32)     # stored coefficients tried in turn when cancellations use them up


class Inst:
    """A recipe node or leaf at given flat output positions (one per singular element)."""

    __slots__ = ("obj", "pos", "args", "kwargs", "parts", "jet", "replayed")

    def __init__(self, obj: Node | Leaf, pos: torch.Tensor) -> None:
        self.obj, self.pos = obj, pos
        self.args: Any = None
        self.kwargs: Any = None
        self.parts: Any = None
        self.jet: Any = None
        self.replayed: Any = None


class Graph:
    """The instances the root's elements at ``pos`` depend on, children before parents."""

    def __init__(self, root: Node, pos: torch.Tensor) -> None:
        self.memo: dict = {}
        self.order: list[Inst] = []
        self.root = self._visit(root, pos)

    def _key(self, obj, pos: torch.Tensor) -> tuple:
        ident = id(obj.t) if isinstance(obj, Leaf) else id(obj)  # one variable per tensor
        return (ident, pos.numel(), hash(tuple(pos.tolist())))

    def _visit(self, obj: Node | Leaf, pos: torch.Tensor) -> Inst:
        key = self._key(obj, pos)
        found = self.memo.get(key)
        if found is not None:
            return found
        inst = Inst(obj, pos)
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

    def _operand(self, a: Any, out_shape: tuple, pos: torch.Tensor) -> Any:
        if isinstance(a, (Node, Leaf)):
            return self._visit(a, broadcast_positions(pos, out_shape, shape_of(a)))
        if isinstance(a, (list, tuple)):
            return type(a)(self._operand(x, out_shape, pos) for x in a)
        return a

    def _move(self, node: Node, pos: torch.Tensor) -> list:
        """``[(child instance, slot mask or None)]`` of a data-movement node: the same call run
        on index tensors says which input element each output element is."""
        with torch.no_grad():
            if node.rule.data == "list":
                refs = list(node.args[0])
                offsets, aranges, start = [], [], 0
                for r in refs:
                    shape = shape_of(r)
                    n = numel(shape)
                    aranges.append(torch.arange(start, start + n, device=pos.device).view(shape))
                    offsets.append(start)
                    start += n
                out = node.func(aranges, *node.args[1:], **node.kwargs)
                fmap = out.reshape(-1)[pos]
                parts = []
                for r, off, a in zip(refs, offsets, aranges):
                    slot = (fmap >= off) & (fmap < off + a.numel())
                    parts.append((self._visit(r, torch.where(slot, fmap - off, 0)), slot))
                return parts
            r0 = node.args[0]
            shape = shape_of(r0)
            out = node.func(torch.arange(numel(shape), device=pos.device).view(shape),
                            *node.args[1:], **node.kwargs)
            if node.index is not None:
                out = out[node.index]
            if tuple(out.shape) != tuple(node.shape):
                raise Unsupported
            return [(self._visit(r0, out.reshape(-1)[pos]), None)]


def directions(n: int, device: torch.device) -> torch.Tensor:
    """Fixed directions of approach (rows) for ``n`` variables: one for one variable, else
    ``n(n+1)/2 + 2`` with every component non-zero (so no direction runs inside a coordinate
    plane, where a formula such as sin(a·x)/x is 0/0 identically)."""
    if n == 1:
        return torch.ones(1, 1, dtype=torch.float64, device=device)
    m = n * (n + 1) // 2 + 2
    g = torch.Generator().manual_seed(16)
    mag = torch.rand(m, n, generator=g, dtype=torch.float64) + 0.5
    sign = torch.where(torch.rand(m, n, generator=g) < 0.5, -1.0, 1.0).to(torch.float64)
    return (mag * sign).to(device)


class Variable:
    """A leaf instance, or a cut: an instance made a variable where ``mask`` (``inf``: its
    derivative is infinite there)."""

    __slots__ = ("inst", "mask", "inf")

    def __init__(self, inst: Inst, mask: torch.Tensor | None = None,
                 inf: torch.Tensor | None = None) -> None:
        self.inst, self.mask, self.inf = inst, mask, inf


class Result:
    """Per singular element: whether a limit was found, and the patch polynomial's coefficients
    (``uni`` for one variable: ``(order + 1, M)``; else ``grad`` ``(n, M)``, ``hess``
    ``(n, n, M)``); ``pole`` marks even poles (value ±inf)."""

    def __init__(self, M: int, device: torch.device) -> None:
        self.ok = torch.zeros(M, dtype=torch.bool, device=device)
        self.c0 = torch.zeros(M, dtype=torch.float64, device=device)
        self.uni: torch.Tensor | None = None
        self.grad: torch.Tensor | None = None
        self.hess: torch.Tensor | None = None
        self.order = 0
        self.pole = torch.zeros(M, dtype=torch.bool, device=device)


def is_variable(leaf: Leaf, variables: list | None) -> bool:
    """Whether a leaf is a variable (``variables``: the only tensors that are, if given)."""
    t = leaf.t
    if variables is not None:
        return any(t is v for v in variables)
    if not t.is_floating_point():
        return False
    return t.dim() > 0 or t.requires_grad


def evaluate(graph: Graph, M: int, device: torch.device, variables: list | None = None,
             order: int | None = None, centre: float | None = None,
             widths: tuple[int, ...] = WIDTHS) -> tuple[Result | None, list[Variable]]:
    """The root's value and derivatives at its ``M`` positions, and the variables they are
    taken in. ``order``: the highest derivative wanted (default 4 for one variable, 2 for
    several); ``centre``: expand every variable leaf around this value instead of its own."""
    cuts: dict[int, Variable] = {}
    for N in widths:
        while True:
            found = _run(graph, M, device, N, cuts, variables, order, centre)
            if isinstance(found, Variable):  # a new cut: it becomes a variable, run again
                cuts[id(found.inst)] = found
                if len(cuts) > MAX_VARIABLES:
                    return None, []
                continue
            result, vs, need_more = found
            break
        if result is None:
            return None, []
        if not need_more or widths[-1] == N:
            return result, vs
    return None, []


def _run(graph: Graph, M: int, device: torch.device, N: int, cuts: dict, variables: Any,
         order: int | None, centre: float | None) -> Any:
    leaves = [i for i in graph.order if isinstance(i.obj, Leaf) and is_variable(i.obj, variables)]
    vs = [Variable(i) for i in leaves] + list(cuts.values())
    n = len(vs)
    if n == 0 or n > MAX_VARIABLES:
        return None, vs, False
    dirs = directions(n, device)               # (D, n)
    D = dirs.shape[0]
    S = Series(N, D * M, device)
    index = {id(v.inst): j for j, v in enumerate(vs)}

    def rep(x: torch.Tensor) -> torch.Tensor:    # (M,) -> (D*M,): direction-major
        return x.to(torch.float64).repeat(D)

    def var_jet(j: int, at: torch.Tensor) -> Jet:
        return S.variable(rep(at), dirs[:, j].repeat_interleave(M))

    def sub(a: Any) -> Any:
        if isinstance(a, Inst):
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
                jet = cj if slot is None or jet is None else select(S, slot.repeat(D), cj, jet)
        if isinstance(jet, Jet) and id(inst) in cuts:
            cv = cuts[id(inst)]
            at = torch.where(cv.mask, jet.value.view(D, M)[0], 0.0)
            jet = select(S, cv.mask.repeat(D), var_jet(index[id(inst)], at), jet)
        elif isinstance(jet, Jet) and jet.cut is not None:
            where = jet.cut.view(D, M)[0] & ~jet.bad.view(D, M)[0]
            if bool(where.any()):
                inf = jet.cut_inf.view(D, M)[0] if jet.cut_inf is not None else None
                return Variable(inst, where, inf)
        inst.jet = jet
    root = graph.root.jet
    if not isinstance(root, Jet):
        return None, vs, False
    K = order if order is not None else (4 if n == 1 else 2)
    result, need_more = solve(S, root, dirs, M, K)
    return result, vs, need_more


def select(S: Series, cond: torch.Tensor, a: Any, b: Any) -> Any:
    """``a`` where ``cond`` else ``b``, for jets (keeping cut marks) or booleans."""
    if isinstance(a, Bools) and isinstance(b, Bools):
        return Bools(torch.where(cond, a.value, b.value),
                     torch.where(cond, a.ambiguous, b.ambiguous))
    out = S.select(cond, a, b)
    if a.cut is None and b.cut is None:
        return out
    none = torch.zeros_like(cond)

    def pick(x, y):
        return torch.where(cond, x if x is not None else none, y if y is not None else none)
    return Jet(out.c, out.v, out.n, out.bad, pick(a.cut, b.cut), pick(a.cut_inf, b.cut_inf))


def solve(S: Series, root: Jet, dirs: torch.Tensor, M: int, K: int) -> tuple[Result, bool]:
    """Value and derivatives per element from the root's series along each direction, and
    whether some element needs more stored coefficients."""
    D, n = dirs.shape
    res = Result(M, dirs.device)
    res.order = K
    normal = S.normalize(root)
    c, known, pole = S.taylor(root)
    c = c.view(S.N, D, M)
    bad = root.bad.view(D, M).any(0)
    pole_dm = pole.view(D, M)
    short = (known.view(D, M) < K + 1) & ~pole_dm
    need_more = bool((short.any(0) & ~bad & ~pole_dm.any(0)).any())
    # an even pole with the same sign along every direction is a true infinity
    v = normal.v.view(D, M)
    lead = normal.c[0].view(D, M)
    even_pole = pole_dm.all(0) & (v % 2 == 0).all(0) & \
        ((lead > 0).all(0) | (lead < 0).all(0)) & (v == v[:1]).all(0)
    regular = ~bad & ~short.any(0) & ~pole_dm.any(0)
    coeffs = c[:K + 1]                                # (K+1, D, M)
    tol = 1e-9 * (coeffs.abs().amax(dim=(0, 1)) + 1.0)
    ok = regular & ((coeffs[0] - coeffs[0, :1]).abs().amax(0) <= tol)
    res.c0 = torch.where(ok, coeffs[0, 0], 0.0)
    if n == 1:
        res.uni = torch.where(ok[None, :], coeffs[:, 0], 0.0)
    else:
        res.order = min(K, 2)
        g, r1 = _lstsq(dirs, coeffs[1])               # a1(d) = g·d
        pairs = [(i, j) for i in range(n) for j in range(i, n)]
        rows = [dirs[:, i] * dirs[:, j] * (0.5 if i == j else 1.0) for i, j in pairs]
        h, r2 = _lstsq(torch.stack(rows, 1), coeffs[2])  # a2(d) = ½ dᵀHd
        ok = ok & (r1 <= tol) & (r2 <= tol)
        H = torch.zeros(n, n, M, dtype=torch.float64, device=dirs.device)
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


def _lstsq(A: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Least squares ``A x = b`` for each column of ``b``; the residual's max-norm per column."""
    x = torch.linalg.lstsq(A, b).solution
    return x, (A @ x - b).abs().amax(0)
