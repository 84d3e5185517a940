"""Which primitive operation made a NaN or infinity, and why, in words.

:class:`FirstNonFinite` is a ``TorchDispatchMode`` that watches every ATen operation (forward
and backward) and records those that return a non-finite value from finite inputs: the places
where NaN and infinity are *created*, rather than passed on. It is only used in instrumented
re-runs of a single layer, never on the normal path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from ._report import fmt_value

__all__ = ["FirstNonFinite", "Origin", "describe_origin"]

# Operations that only move or view data: they never create a non-finite value.
_MOVES = {"detach", "view", "_unsafe_view", "expand", "reshape", "clone", "t", "transpose",
          "permute", "unsqueeze", "squeeze", "select", "slice", "alias", "as_strided",
          "copy_", "_to_copy", "lift_fresh", "empty_like", "zeros_like", "ones_like", "new_empty",
          "empty", "zeros", "new_zeros", "new_ones", "full_like", "fill_", "zero_"}


def _finite_scalar(a: Any) -> bool:
    return not isinstance(a, float) or math.isfinite(a)


@dataclass
class Origin:
    """One operation that turned finite inputs into a non-finite output."""

    op: str                       # "log", "div", ...
    node: str | None              # autograd node running it (backward), e.g. "SqrtBackward0"
    args: list[Any]               # tensor args (cloned) and scalars
    out: torch.Tensor             # the output (cloned)


class FirstNonFinite(TorchDispatchMode):
    """Records every :class:`Origin` while active (in ``self.origins``, in order)."""

    def __init__(self) -> None:
        super().__init__()
        self.origins: list[Origin] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func.overloadpacket.__name__
        if name in _MOVES:
            return func(*args, **kwargs)
        flat = tree_flatten((args, kwargs))[0]
        finite_in = all(torch.isfinite(a).all() if isinstance(a, torch.Tensor) and
                        a.is_floating_point() else _finite_scalar(a) for a in flat)
        kept = [a.detach().clone() if isinstance(a, torch.Tensor) else a for a in args] \
            if finite_in else None
        out = func(*args, **kwargs)
        if finite_in:
            for o in tree_flatten(out)[0]:
                if isinstance(o, torch.Tensor) and o.is_floating_point() and \
                        not bool(torch.isfinite(o).all()):
                    node = torch._C._current_autograd_node()
                    self.origins.append(Origin(name.rstrip("_"), node.name() if node else None,
                                               kept or [], o.detach().clone()))
                    break
        return out


def pick(origins: list[Origin], shape: tuple[int, ...], index: tuple[int, ...] | None) -> Origin | None:
    """The origin that explains a bad value at ``index`` of a tensor of ``shape``: the first one of
    that shape that is bad there, else the first one at all."""
    if index is not None:
        for o in origins:
            if tuple(o.out.shape) == tuple(shape) and not bool(torch.isfinite(o.out[index])):
                return o
    return origins[0] if origins else None


def _at(a: Any, shape: torch.Size, index: tuple[int, ...]) -> Any:
    if not isinstance(a, torch.Tensor):
        return a if isinstance(a, (int, float)) and not isinstance(a, bool) else None
    try:
        return torch.broadcast_to(a, shape)[index].item()
    except (RuntimeError, IndexError, ValueError):
        return None


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def describe_origin(o: Origin) -> tuple[str, bool, tuple[int, ...] | None]:
    """``(cause in words, is it a true infinity, index in the op's output)`` for an origin."""
    out = o.out
    bad = (~torch.isfinite(out)).reshape(-1).nonzero()
    index = tuple(int(i) for i in torch.unravel_index(bad[0, 0], out.shape)) if out.dim() else ()
    v = out[index].item()
    xs = [_at(a, out.shape, index) for a in o.args]
    nums = [x for x in xs if x is not None]
    dt = _dtype_name(out.dtype)
    name = o.op
    x = nums[0] if nums else None
    y = nums[1] if len(nums) > 1 else None
    true_inf = False
    if name in ("log", "log2", "log10") and x is not None:
        if x == 0:
            phrase, true_inf = f"{name} of 0", True
        else:
            phrase = f"{name} of a negative number ({fmt_value(x)})"
    elif name == "log1p" and x is not None:
        phrase, true_inf = (("log1p of -1", True) if x == -1 else
                            (f"log1p of a number below -1 ({fmt_value(x)})", False))
    elif name in ("sqrt", "rsqrt") and x is not None:
        if x == 0:
            phrase, true_inf = "1/sqrt of 0", True
        else:
            phrase = f"square root of a negative number ({fmt_value(x)})"
    elif name in ("div", "true_divide", "reciprocal") and nums:
        a, b = (1.0, x) if name == "reciprocal" or y is None else (x, y)
        if a == 0 and b == 0:
            phrase = "0/0"
        elif b == 0:
            phrase, true_inf = f"division by zero ({fmt_value(a)}/0)", True
        else:
            phrase = f"{fmt_value(a)}/{fmt_value(b)} overflowed {dt}"
    elif name in ("exp", "exp2", "expm1") and x is not None:
        limit = math.log(torch.finfo(out.dtype).max)
        phrase = f"exp overflowed {dt} at {fmt_value(x)} (its largest argument is {limit:.4g})"
    elif name in ("pow", "float_power") and x is not None and y is not None:
        if x == 0 and y < 0:
            phrase, true_inf = f"0 to a negative power ({fmt_value(y)})", True
        elif x < 0 and y != int(y):
            phrase = f"a negative number ({fmt_value(x)}) to a fractional power ({fmt_value(y)})"
        else:
            phrase = f"{fmt_value(x)}^{fmt_value(y)} overflowed {dt}"
    elif math.isinf(v) and name in ("mul", "add", "sub", "sum", "mm", "addmm", "bmm", "matmul",
                                     "mean", "prod", "cumsum", "cumprod", "linear", "mv", "dot"):
        shown = ", ".join(fmt_value(n) for n in nums[:2])
        phrase = f"{name} overflowed {dt}" + (f" ({shown})" if shown and name in
                                             ("mul", "add", "sub") else "")
    else:
        shown = ", ".join(fmt_value(n) for n in nums[:3])
        phrase = f"{name} returned {fmt_value(v)} from finite inputs" + (f" ({shown})" if shown else "")
    return phrase, true_inf, index


def node_function(node: str | None) -> str | None:
    """``"SqrtBackward0"`` → ``"sqrt"``; ``"_DivBackward"`` → ``"div"``."""
    if not node:
        return None
    base = node.split("Backward")[0].lstrip("_")
    return base.lower() or None
