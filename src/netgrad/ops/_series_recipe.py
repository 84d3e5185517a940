"""Recipes: what robust() records about how a tensor was made (for the series engine).

A :class:`Node` is one recorded call ``func(*args, **kwargs)`` whose tensor arguments are
replaced by their own recipes (a tensor made elsewhere, or modified in place since, is a
:class:`Leaf`: kept by reference with its version). It is attached to the output tensor under
the attribute ``_netgrad_recipe`` and is valid while the tensor's version is unchanged.
See ``_limits.py`` for how recipes are used.
"""

from __future__ import annotations

import contextlib
import math
from typing import Callable, Iterator

import torch

from . import _mode

__all__ = ["Leaf", "Node", "recipe_of", "producer", "recording", "can_decide",
           "broadcast_positions", "shape_of", "numel", "STATE", "ATTR", "MAX_DEPTH"]

ATTR = "_netgrad_recipe"
MAX_DEPTH = 200          # longer elementwise chains are not recorded (their output is a leaf)


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
    r = t.__dict__.get(ATTR) if hasattr(t, "__dict__") else None
    return r if r is not None and r.version == t._version else None


def producer(t: torch.Tensor) -> tuple[Callable, tuple, dict] | None:
    """``(torch function, args, kwargs)`` that made ``t`` under robust(), with each tensor
    argument replaced by its own recipe (:class:`Node`) or a :class:`Leaf`; None if unknown.
    For pattern rewrites that need to know how an operand was computed."""
    r = recipe_of(t)
    return None if r is None else (r.func, r.args, r.kwargs)


# ---- recording ---------------------------------------------------------------------------
def ref(t: torch.Tensor) -> Node | Leaf:
    """The recipe of ``t``, or a leaf for it."""
    r = t.__dict__.get(ATTR)
    if r is not None and r.version == t._version:
        return r
    return Leaf(t)


def refs(seq, out: list) -> tuple:
    """``seq`` with each tensor (also one level inside lists) replaced by :func:`ref`; the
    references made are appended to ``out``."""
    res: list = []
    for a in seq:
        if isinstance(a, torch.Tensor):
            r = ref(a)
            out.append(r)
            res.append(r)
        elif isinstance(a, (list, tuple)) and a and isinstance(a[0], torch.Tensor):
            sub = tuple(ref(x) if isinstance(x, torch.Tensor) else x for x in a)
            out.extend(x for x in sub if isinstance(x, (Node, Leaf)))
            res.append(type(a)(sub) if isinstance(a, list) else sub)
        else:
            res.append(a)
    return tuple(res)


def enabled() -> bool:
    """Whether operations are recorded now (not while torch.compile traces)."""
    return STATE.record and not torch.compiler.is_compiling()


class _State:
    record = True
    near = True


STATE = _State()


@contextlib.contextmanager
def recording(on: bool = True, near: bool | None = None) -> Iterator[None]:
    """Switch the series engine on or off inside a block (on by default everywhere);
    ``near=False`` keeps the exact-point patch but not the series near a singular point."""
    before = STATE.record, STATE.near
    STATE.record = on
    STATE.near = on if near is None else near
    try:
        yield
    finally:
        STATE.record, STATE.near = before


def can_decide(t: torch.Tensor) -> bool:
    """Whether a host decision is allowed here: not traced, not under ``vmap``, on the CPU, not
    sync-free (:func:`netgrad.ops.sync_free`). ``torch.func.grad`` allows it (its tensors can be
    read), so the series engine works under it in eager mode."""
    if _mode._forced or t.device.type != "cpu" or torch.compiler.is_compiling():
        return False
    return not torch._C._functorch.is_batchedtensor(t)


def broadcast_positions(pos: torch.Tensor, out_shape: tuple, in_shape: tuple) -> torch.Tensor:
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


def shape_of(r: Node | Leaf) -> tuple:
    return r.shape if isinstance(r, Node) else tuple(r.t.shape)


def numel(shape: tuple) -> int:
    return math.prod(shape) if shape else 1
