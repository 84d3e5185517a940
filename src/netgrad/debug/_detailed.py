"""Detailed mode: per-layer checks while the net runs, and strong-zero counts.

``with netgrad.debug.detailed() as session:`` makes, for every net run inside the block,

* a check of each layer's outputs as it runs, so that a non-finite value is located even when a
  re-run would not reproduce it (dropout in Train mode);
* a count, per layer, of the indeterminate products ``0·∞`` and ``0·NaN`` that the strong-zero
  convention (contract rule 3) resolved to 0, in the forward and the backward pass, with the
  operations that did it (``session.strong_zeros``; ``print(session)`` shows a table).

Backward work is attributed to layers by autograd sequence numbers: every autograd node created
while a layer runs belongs to that layer.
"""

from __future__ import annotations

import bisect
import contextlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from .._module import NetModule
from ..net._graph import NetGraph
from ..ops import _strong_zero
from ._finite import all_finite

__all__ = ["detailed", "DetailedSession", "StrongZeroCount", "active_session"]


@dataclass
class StrongZeroCount:
    """How often the strong-zero convention decided a value in one layer."""

    zero_inf: int = 0
    zero_nan: int = 0
    ops: Counter = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return self.zero_inf + self.zero_nan


@dataclass
class _EagerBad:
    path: tuple[str, ...]
    layer: Any
    ins: dict[str, torch.Tensor]
    port: str
    out: torch.Tensor


class DetailedSession:
    """What detailed mode saw. ``strong_zeros`` maps ``(path, layer type)`` to
    :class:`StrongZeroCount`; ``reports`` lists the :class:`~netgrad.debug.NonFiniteReport`
    raised or warned inside the block."""

    def __init__(self) -> None:
        self.strong_zeros: dict[tuple[tuple[str, ...], str], StrongZeroCount] = {}
        self.reports: list = []
        self._stack: list[Any] = []
        self._seq: list[int] = []
        self._owners: list[tuple[tuple[str, ...], str]] = []
        self._bad: _EagerBad | None = None
        self._names: dict[int, dict[int, str]] = {}
        self._paused = False

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Instrumented re-runs happen here: nothing is counted or checked twice."""
        was, self._paused = self._paused, True
        try:
            yield
        finally:
            self._paused = was

    # ---- attribution -----------------------------------------------------------------------
    def _path(self) -> tuple[str, ...]:
        path = []
        for parent, child in zip(self._stack, self._stack[1:]):
            names = self._names.get(id(parent))
            if names is None:
                names = {id(m): n for n, m in getattr(parent, "vertices", {}).items()}
                self._names[id(parent)] = names
            path.append(names.get(id(child), type(child).__name__))
        return tuple(path)

    def _owner(self, op: str | None) -> tuple[tuple[str, ...], str]:
        node = torch._C._current_autograd_node()
        if node is not None:
            i = bisect.bisect_left(self._seq, node._sequence_nr())
            if i < len(self._owners):
                return self._owners[i]
            return ((), "outside any layer")
        if self._stack:
            return (self._path(), type(self._stack[-1]).__name__)
        return ((), "outside any layer")

    def _count(self, n_inf: int, n_nan: int, op: str | None) -> None:
        if self._paused:
            return
        key = self._owner(op)
        c = self.strong_zeros.setdefault(key, StrongZeroCount())
        c.zero_inf += n_inf
        c.zero_nan += n_nan
        c.ops[op or "forward"] += n_inf + n_nan

    # ---- module hooks ----------------------------------------------------------------------
    def _pre(self, module, args) -> None:
        if isinstance(module, NetModule) and not self._paused:
            if not self._stack:
                self._bad = None
            self._stack.append(module)

    def _post(self, module, args, output) -> None:
        if self._paused or not isinstance(module, NetModule) or not self._stack or \
                self._stack[-1] is not module:
            return
        if not isinstance(module, NetGraph):
            outs = output if isinstance(output, dict) else {module.output_names()[0]: output}
            seq = [t.grad_fn._sequence_nr() for t in outs.values()
                   if isinstance(t, torch.Tensor) and t.grad_fn is not None]
            if seq:
                self._seq.append(max(seq))
                self._owners.append((self._path(), type(module).__name__))
            if self._bad is None and not all_finite(outs.values()):
                for p, t in outs.items():
                    if not all_finite([t]):
                        ins = dict(zip(module.input_names(), (a.detach() for a in args)))
                        self._bad = _EagerBad(self._path(), module, ins, p, t.detach())
                        break
        self._stack.pop()

    # ---- rendering -------------------------------------------------------------------------
    def __str__(self) -> str:
        if not self.strong_zeros:
            return "strong-zero convention: never applied"
        lines = ["strong-zero convention (0·∞ and 0·NaN resolved to 0), per layer:"]
        for (path, kind), c in self.strong_zeros.items():
            where = " › ".join(f'"{p}"' for p in path) or "net"
            ops = ", ".join(f"{op} ×{n}" for op, n in c.ops.most_common())
            lines.append(f"  {where} ({kind}): {c.zero_inf} × 0·∞, {c.zero_nan} × 0·NaN  [{ops}]")
        return "\n".join(lines)


_session: DetailedSession | None = None


def active_session() -> DetailedSession | None:
    """The detailed-mode session in effect, if any."""
    return _session


@contextlib.contextmanager
def detailed() -> Iterator[DetailedSession]:
    """Detailed diagnostics for the block (see the module doc); yields the session.

    Not thread-safe: use it from one thread at a time.
    """
    global _session
    from torch.nn.modules.module import (register_module_forward_hook,
                                         register_module_forward_pre_hook)
    outer = _session
    session = DetailedSession()
    _session = session
    was, sink = _strong_zero.enabled, _strong_zero._sink
    _strong_zero._sink = session._count
    _strong_zero.enabled = True
    h1 = register_module_forward_pre_hook(session._pre)
    h2 = register_module_forward_hook(session._post)
    try:
        yield session
    finally:
        h1.remove()
        h2.remove()
        _strong_zero.enabled, _strong_zero._sink = was, sink
        _session = outer
