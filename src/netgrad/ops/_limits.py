"""Removable singularities under ``robust()``: the hook, the 0/0 check and the entry points.

Under :func:`netgrad.ops.robust`, every elementwise or data-movement operation that
:mod:`._series_rules` knows attaches a small **recipe** to its output tensor
(:mod:`._series_recipe`): the operation and its operands' recipes; a tensor made elsewhere is a
*leaf*, kept by reference. Only operations that can create an indeterminate NaN check their
result, once (one sum and one host read): a division of tensors (0/0, inf/inf), and a product
or a sum of tensors that came from a pole (1/x, log, tan: 0·inf, inf - inf). When the check
finds elements that became NaN there, and only then, the recipe is evaluated again at **those
elements only** by truncated Taylor arithmetic (:mod:`._series`, :mod:`._series_eval`), in
float64, around the values the computation had, and the elements are replaced by a polynomial in
their variables that has the limit's value, gradient and second derivatives
(:mod:`._series_patch`); autograd differentiates it like any other expression (create_graph,
double backward, ``torch.func.grad``). A division of one variable with a removable singularity
at 0 is also evaluated by its series *near* 0, where the formula cancels (:mod:`._series_near`).

Where no limit exists (an odd pole such as x/x², a direction-dependent limit like x·y/(x² + y²)
at 0, a jump, a NaN or infinite centre, an operation the rules do not know) the element stays
NaN and the non-finite provenance reports it. An even pole (x/x³ at 0) is the true infinity it
is.

The cost when nothing is singular: a recipe per recorded operation (a few Python objects) and
one sum and one host read per checked operation (``bench/singularities.py``). The check needs a
host decision, so it is skipped while tracing (``torch.compile``), under ``vmap``, on non-CPU
devices and under :func:`netgrad.ops.sync_free`; there a singular element stays NaN, and
:func:`netgrad.ops.removable` is the branch-free alternative.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Callable, Iterator

import torch

from ._robust import RobustMode, use_mode
from ._series_near import near, removable, taylor
from ._series_patch import patch
from ._series_recipe import (ATTR, MAX_DEPTH, Leaf, Node, can_decide, enabled, producer,
                             recipe_of, recording, ref, refs)
from ._series_rules import RULES, Rule, Unsupported

__all__ = ["observe", "producer", "recipe_of", "recording", "limits", "call", "taylor",
           "removable", "LimitsMode"]

_disable = torch._C.DisableTorchFunction


def observe(func: Callable, args: tuple, kwargs: dict | None, result: Any) -> Any:
    """Record the recipe of ``result = func(*args, **kwargs)`` and, for the operations that
    can create 0/0, 0·inf or inf - inf, check it and patch its NaN elements by series.
    Returns ``result`` or its patched copy. robust() calls it after every operation."""
    rule = RULES.get(func)
    if rule is None or not enabled() or (kwargs and kwargs.get("out") is not None):
        return result
    try:
        return _observe(func, rule, args, kwargs or {}, result)
    except Unsupported:
        return result


def _observe(func: Callable, rule: Rule, args: tuple, kwargs: dict, result: Any) -> Any:
    if not isinstance(result, torch.Tensor):
        return _observe_multi(func, rule, args, kwargs, result)
    if not (result.is_floating_point() or result.dtype == torch.bool):
        return result
    operands: list = []
    rargs: tuple
    if rule.kind == "ew":
        listed = []
        for a in args:
            if isinstance(a, torch.Tensor):
                if a is result:
                    return result  # in place or an identity: nothing new
                r = a.__dict__.get(ATTR)
                if r is None or r.version != a._version:
                    r = Leaf(a)
                operands.append(r)
                listed.append(r)
            else:
                listed.append(a)
        rargs = tuple(listed)
        rkwargs = dict(zip(kwargs, refs(kwargs.values(), operands))) if kwargs else kwargs
    elif rule.data == "list":
        if not args or not isinstance(args[0], (list, tuple)):
            return result
        rargs = refs(args[:1], operands) + tuple(args[1:])
        rkwargs = kwargs
    else:
        if not args or not isinstance(args[0], torch.Tensor) or args[0] is result:
            return result
        r0 = ref(args[0])
        operands.append(r0)
        rargs = (r0,) + tuple(args[1:])
        rkwargs = kwargs
    if not operands:
        return result
    depth = 0
    flagged = 0
    for o in operands:
        if type(o) is Node:
            depth = max(depth, o.depth)
            flagged += o.inf
    depth += 1
    if depth > MAX_DEPTH:
        return result
    check = rule.check
    node = Node(func, rule, rargs, rkwargs, result.shape, result._version,
                flagged > 0 or check == "pole" or check == "div", depth)
    result.__dict__[ATTR] = node
    if not check or check == "pole":
        return result
    if check == "div":
        if len(operands) >= 2:
            # a one-variable formula near (or at) a removable singularity at 0: its cached
            # series, before the check (so the exact point costs no series evaluation either)
            out = near(node, result) if rule.name in ("div", "rdiv") else result
            return _check(node, out, args, kwargs)
        if any(isinstance(a, (int, float)) and (a == 0 or not math.isfinite(a))
               for a in args[:2]):
            return _check(node, result, args, kwargs)
    elif (check == "mul" and flagged) or (check == "add" and flagged >= 2):
        return _check(node, result, args, kwargs)
    return result


def _observe_multi(func: Callable, rule: Rule, args: tuple, kwargs: dict, result: Any) -> Any:
    """split, chunk, unbind: one recipe per output, each naming its index."""
    if not isinstance(result, (tuple, list)) or not rule.multi or not args or \
            not isinstance(args[0], torch.Tensor):
        return result
    r0 = ref(args[0])
    depth = r0.depth + 1 if isinstance(r0, Node) else 1
    if depth > MAX_DEPTH:
        return result
    inf = isinstance(r0, Node) and r0.inf
    rargs = (r0,) + tuple(args[1:])
    for i, r in enumerate(result):
        if isinstance(r, torch.Tensor) and (r.is_floating_point() or r.dtype == torch.bool):
            r.__dict__[ATTR] = Node(func, rule, rargs, kwargs, r.shape, r._version, inf,
                                    depth, i)
    return result


def _check(node: Node, result: torch.Tensor, args: tuple, kwargs: dict) -> torch.Tensor:
    """One sum decides: all finite (done), or find the elements that became NaN here (no
    operand is NaN there) and patch them by series."""
    if result.numel() == 0 or not can_decide(result):
        return result
    with _disable():
        y = result.detach()
        if math.isfinite(torch.sum(y).item()):
            node.inf = False
            return result
        node.inf = True
        created = torch.isnan(y)
        if not bool(created.any()):
            return result
        for a in list(args) + list(kwargs.values()):
            if isinstance(a, torch.Tensor) and a.is_floating_point():
                created = created & ~torch.isnan(a.detach()).broadcast_to(y.shape)
        positions = created.reshape(-1).nonzero().squeeze(1)
        if positions.numel() == 0:
            return result
        values, ok = patch(node, positions, result.dtype)
        if values is None or ok is None:
            return result
        patched = result.reshape(-1).index_put((positions[ok],), values[ok]).view(result.shape)
        patched.__dict__[ATTR] = Node(node.func, node.rule, node.args, node.kwargs, node.shape,
                                      patched._version, True, node.depth)
        return patched


# ---- entry points --------------------------------------------------------------------------
class LimitsMode(RobustMode):
    """robust() with the series engine: after each operation, :func:`observe`."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        result = RobustMode.__torch_function__(self, func, types, args, kwargs)
        return observe(func, args, kwargs, result)


use_mode(LimitsMode)


def _active() -> bool:
    if not torch._C._is_torch_function_mode_enabled():
        return False
    return any(isinstance(m, LimitsMode)
               for m in torch.overrides._get_current_function_mode_stack())


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
            if id(x) in seen:  # a fresh view, made outside the mode so it has no recipe
                with _disable():
                    x = x.view_as(x)
            seen.add(id(x))
        args.append(x)
    with limits():
        return fn(*args)
