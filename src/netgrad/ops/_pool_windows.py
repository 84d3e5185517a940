"""Where pooling windows fall: geometry, windowed views, and the helpers the pooling kernels
share (:mod:`netgrad.ops._pooling` for LP and power means, :mod:`netgrad.ops._pool_max` for max,
mean and total)."""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .._errors import NetTypeError, NetValueError

__all__: list[str] = []

_NEG_INF = float("-inf")


def _traced() -> bool:
    """True while torch.compile traces or a torch.func transform runs: kernels then avoid
    ``out=`` and in-place writes into fresh buffers (neither is allowed on wrapped tensors)."""
    return torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active()


def _plain(fn):
    """Run ``fn`` with ``__torch_function__`` modes off: these kernels keep the contract by
    themselves, so :func:`netgrad.ops.robust` must not reroute the torch calls inside them."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with torch._C.DisableTorchFunction():
            return fn(*args, **kwargs)

    return wrapper


# ---- window geometry ---------------------------------------------------------------------------
class _Windows:
    """Where the windows of a pooling fall: output size, padding, in-bounds counts.

    :meth:`view` turns ``(N, C, *spatial)`` into a windowed tensor whose kernel dimensions are
    ``kdims``; window-level tensors have size 1 there (``(N, C, *out)`` ↔ :meth:`keep`). When the
    windows tile the input exactly (stride = kernel, no padding, sizes divisible), the view is a
    plain reshape ``(N, C, o1, k1, o2, k2, ...)``, so elementwise results are already laid out
    as the input; otherwise it is an unfold ``(N, C, *out, *kernel)`` after zero padding, and
    :meth:`fold` is its adjoint.
    """

    def __init__(self, spatial: Sequence[int], kernel, stride, padding, ceil_mode: bool,
                 where: str) -> None:
        d = len(spatial)
        self.d = d
        self.spatial = tuple(spatial)
        self.kernel = _tuple(kernel, d, "kernel_size", where, minimum=1)
        self.stride = self.kernel if stride is None or stride == [] or stride == () else \
            _tuple(stride, d, "stride", where, minimum=1)
        self.padding = _tuple(padding, d, "padding", where, minimum=0)
        self.ceil_mode = bool(ceil_mode)
        out, hi = [], []
        for length, k, s, pd in zip(self.spatial, self.kernel, self.stride, self.padding):
            if pd > k // 2:
                raise NetValueError(f"padding must be at most half the kernel size ({k // 2})",
                                    where=where, got=f"got padding {self.padding} for kernel "
                                    f"{self.kernel}", fix="use a smaller padding")
            span = length + 2 * pd - k
            if span < 0:
                raise NetValueError("each spatial dimension (with padding) must be at least "
                                    "the kernel size", where=where,
                                    got=f"got spatial size {self.spatial} for kernel "
                                    f"{self.kernel} and padding {self.padding}",
                                    fix="use a smaller kernel or more padding")
            o = (-(-span // s) if ceil_mode else span // s) + 1
            if ceil_mode and (o - 1) * s >= length + pd:
                o -= 1  # the last window would start in the right padding (PyTorch's rule)
            out.append(o)
            hi.append(max(pd, (o - 1) * s + k - length - pd))
        self.out = tuple(out)
        self.pads = tuple(v for lo, h in zip(reversed(self.padding), reversed(hi)) for v in (lo, h))
        self.padded = any(self.pads)
        self.overlapping = any(s < k for s, k in zip(self.stride, self.kernel))
        self.size = math.prod(self.kernel)
        self.tiling = not self.padded and all(
            s == k and o * k == n for s, k, o, n in zip(self.stride, self.kernel, self.out,
                                                         self.spatial))
        self.kdims = tuple(3 + 2 * i for i in range(d)) if self.tiling else \
            tuple(range(2 + d, 2 + 2 * d))
        self._spread_last = self.tiling and self.kernel[-1] < 8
        # disjoint blocks from the origin (a tiling, possibly with a remainder left over)
        self.blocks = not self.padded and self.stride == self.kernel

    def view(self, t: torch.Tensor, pad_value: float = 0.0) -> torch.Tensor:
        if self.tiling:
            return t.reshape(t.shape[:2] + tuple(v for o, k in zip(self.out, self.kernel)
                                                 for v in (o, k)))
        if self.padded:
            t = F.pad(t, self.pads, value=pad_value)
        if torch._C._are_functorch_transforms_active():
            # gathers, whose derivative (index_add) has a batching rule (unfold's has not)
            for i, (k, s, o) in enumerate(zip(self.kernel, self.stride, self.out)):
                idx = (torch.arange(o, device=t.device) * s)[:, None] + \
                    torch.arange(k, device=t.device)
                t = t.index_select(2 + i, idx.flatten()).unflatten(2 + i, (o, k))
                t = t.movedim(3 + i, -1)
            return t
        for i, (k, s, o) in enumerate(zip(self.kernel, self.stride, self.out)):
            t = t.unfold(2 + i, k, s).narrow(2 + i, 0, o)
        return t

    def keep(self, y: torch.Tensor) -> torch.Tensor:
        """``(N, C, *out)`` → the window-level shape that broadcasts against :meth:`view`."""
        if self.tiling:
            return y.reshape(y.shape[:2] + tuple(v for o in self.out for v in (o, 1)))
        return y.reshape(y.shape + (1,) * self.d)

    def wide(self, t: torch.Tensor) -> torch.Tensor:
        """A windowed tensor with the last output and kernel dimensions merged (tilings).

        Elementwise ops against :meth:`spread` operands then loop over whole rows: a stride-0
        operand on a kernel dimension of 2 or 3 innermost makes PyTorch's loops several times
        slower.
        """
        if not self._spread_last:
            return t
        return t.reshape(t.shape[:-2] + (t.shape[-2] * t.shape[-1],))

    def spread(self, w: torch.Tensor) -> torch.Tensor:
        """A window-level tensor (:meth:`keep` shape), repeated along the last kernel dimension
        to broadcast against :meth:`wide`."""
        if not self._spread_last:
            return w
        w = w.squeeze(-1)
        if w.shape[-1] == 1:
            return w
        out = w.new_empty(w.shape + (self.kernel[-1],))
        for j in range(self.kernel[-1]):  # k strided copies beat repeat_interleave here
            out[..., j] = w
        return out.flatten(-2)

    def squeeze(self, y: torch.Tensor) -> torch.Tensor:
        return y.reshape(y.shape[:2] + self.out)

    def reduce(self, t: torch.Tensor, op: str, inplace: bool | None = None) -> torch.Tensor:
        """Sum (``op="sum"``) or max over each window, window-level shape.

        Slice by slice over the kernel dimensions: much faster than ``amax``/``sum`` over the
        small, strided kernel dimensions.
        """
        fn = torch.add if op == "sum" else torch.maximum
        if inplace is None:
            inplace = not _traced()  # (out= is not traced; wrapped tensors refuse it)
        for dim in sorted(self.kdims, reverse=True):
            k = t.shape[dim]
            if k == 1:
                continue
            r = fn(t.select(dim, 0), t.select(dim, 1))
            for j in range(2, k):
                if inplace:
                    fn(r, t.select(dim, j), out=r)
                else:
                    r = fn(r, t.select(dim, j))
            t = r.unsqueeze(dim)
        return t

    def counts(self, like: torch.Tensor) -> torch.Tensor | float:
        """In-bounds elements per window, window-level (a float when every window is full)."""
        if not self.padded:
            return float(self.size)
        return self.reduce(self.pad_mask(like).logical_not().to(like.dtype), "sum")

    def pad_mask(self, like: torch.Tensor) -> torch.Tensor:
        """True at padded positions, broadcastable against :meth:`view`."""
        ones = torch.ones((1, 1) + self.spatial, dtype=like.dtype, device=like.device)
        return self.view(ones) == 0

    def fold(self, gw: torch.Tensor, shape: torch.Size, functional: bool = False) -> torch.Tensor:
        """The adjoint of :meth:`view`: sum windowed values back onto the input.

        ``functional=True`` forms it without in-place writes (pad, ``unfold_backward``, slice),
        as ``torch.func`` transforms, tracing and double backward need; the default writes into
        a zero buffer, which is faster in eager first-order backwards.
        """
        if self.tiling:
            return gw.reshape(shape)
        if functional:
            return self._fold_functional(gw, shape)
        full = gw.new_zeros(shape[:2] + tuple(
            n + self.pads[2 * (self.d - 1 - i)] + self.pads[2 * (self.d - 1 - i) + 1]
            for i, n in enumerate(self.spatial)))
        if not self.overlapping:
            self._unfold(full).copy_(gw)
        else:
            for offs in itertools.product(*(range(k) for k in self.kernel)):
                idx = (Ellipsis,) + tuple(slice(o, o + s * (n - 1) + 1, s) for o, s, n
                                          in zip(offs, self.stride, self.out))
                full[idx] += gw[(Ellipsis,) + tuple(slice(None) for _ in self.out) + offs]
        if self.padded:
            full = full[(Ellipsis,) + tuple(slice(p, p + n) for p, n in
                                            zip(self.padding, self.spatial))]
        return full

    def _fold_functional(self, gw: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        sizes = [n + self.pads[2 * (self.d - 1 - i)] + self.pads[2 * (self.d - 1 - i) + 1]
                 for i, n in enumerate(self.spatial)]
        t = gw
        for i in reversed(range(self.d)):  # undo view's unfold + narrow, last dimension first
            k, s, size = self.kernel[i], self.stride[i], sizes[i]
            dim = 2 + i
            after = t.dim() - 2 - dim  # dimensions after `dim` once the kernel one is gone
            total = None
            for j in range(k):  # offset j of every window lands at j, j + s, j + 2s, ...
                part = t.select(-1, j)
                if s > 1:  # interleave s - 1 zeros after each value
                    z = torch.zeros_like(part)
                    part = torch.stack([part] + [z] * (s - 1), dim + 1).flatten(dim, dim + 1)
                span = part.shape[dim]
                part = F.pad(part, [0, 0] * after + [j, max(0, size - j - span)])
                part = part.narrow(dim, 0, size)
                total = part if total is None else total + part
            assert total is not None
            t = total
        if self.padded:
            t = t[(Ellipsis,) + tuple(slice(p, p + n) for p, n in
                                      zip(self.padding, self.spatial))]
        return t.reshape(shape)

    def _unfold(self, full: torch.Tensor) -> torch.Tensor:
        for i, (k, s, o) in enumerate(zip(self.kernel, self.stride, self.out)):
            full = full.unfold(2 + i, k, s).narrow(2 + i, 0, o)
        return full


def _tuple(value, d: int, name: str, where: str, minimum: int) -> tuple[int, ...]:
    if isinstance(value, bool):
        raise NetTypeError(f"{name} must be an int or a tuple of {d} ints", where=where,
                           got=f"got {value!r}")
    if isinstance(value, int):
        value = (value,) * d
    try:
        out = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise NetTypeError(f"{name} must be an int or a tuple of {d} ints", where=where,
                           got=f"got {value!r}") from None
    if len(out) == 1 and d > 1:
        out = out * d
    if len(out) != d or any(v < minimum for v in out):
        raise NetValueError(f"{name} must be {d} int(s), each at least {minimum}", where=where,
                            got=f"got {value!r}")
    return out


def _batched(x, d: int, where: str) -> tuple[torch.Tensor, bool]:
    if not isinstance(x, torch.Tensor):
        raise NetTypeError("input must be a torch.Tensor", where=where,
                           got=f"got {type(x).__name__}")
    if x.dim() == d + 1:
        return x.unsqueeze(0), True
    if x.dim() != d + 2:
        raise NetValueError(f"input must be (N, C, {d} spatial dims) or (C, {d} spatial dims)",
                            where=where, got=f"got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise NetTypeError("input must be a floating-point tensor", where=where,
                           got=f"got dtype {x.dtype}")
    return x, False
