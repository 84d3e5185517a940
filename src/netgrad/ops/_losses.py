"""Losses: binary_cross_entropy (on probabilities) and cross_entropy (on logits).

Both are compositions of robust operations, so their gradients (and second derivatives) keep
the contract. Neither clamps with an eps: ``binary_cross_entropy`` at p = 0, target 0 has
d/dp = 1 (torch: 0), and at p = 0, target 1 the loss is +inf (torch: 100).
"""

from __future__ import annotations

import torch
from torch.autograd import Function

from ._core import all_finite, plain, strong_
from ._registry import R, szmul
from ._softmax import _slices_nan

__all__ = ["binary_cross_entropy", "cross_entropy"]

_Tensor = torch.Tensor


def _reduce(loss: _Tensor, reduction: str, denominator=None) -> _Tensor:
    if reduction == "none":
        return loss
    if reduction == "sum":
        return R.sum(loss)
    if reduction == "mean":
        return R.div(R.sum(loss), denominator) if denominator is not None else R.mean(loss)
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _legacy(size_average, reduce, reduction: str) -> str:
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return "none" if not reduce else ("mean" if size_average else "sum")


def binary_cross_entropy(input: _Tensor, target: _Tensor, weight: _Tensor | None = None,
                         size_average=None, reduce=None, reduction: str = "mean") -> _Tensor:
    """-(t·log p + (1 - t)·log(1 - p)) on probabilities p, as
    ``torch.nn.functional.binary_cross_entropy`` but exact: no log clamp, no eps.

    Shape: ``input`` and ``target`` (*), the same shape; ``weight`` broadcastable to it.
    """
    reduction = _legacy(size_average, reduce, reduction)
    if target.shape != input.shape:
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input "
                         f"size ({input.shape}) is deprecated. Please ensure they have the same "
                         "size.")
    loss = R.neg(R.add(R.xlogy(target, input), R.xlogy(R.sub(1.0, target), R.sub(1.0, input))))
    if weight is not None:
        loss = R.mul(loss, weight)
    return _reduce(loss, reduction)


def cross_entropy(input: _Tensor, target: _Tensor, weight: _Tensor | None = None,
                  size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> _Tensor:
    """Cross-entropy of logits against class indices or class probabilities, as
    ``torch.nn.functional.cross_entropy``, built on the robust :func:`log_softmax`: masked
    (-inf) logits get gradient 0, and a 0 target probability times a -inf log-probability is 0.

    Shape: ``input`` (C), (N, C) or (N, C, d1, ...); ``target`` the same without C (indices) or
    the same shape as ``input`` (probabilities).
    """
    reduction = _legacy(size_average, reduce, reduction)
    if (weight is None and label_smoothing == 0 and input.dim() >= 2 and input.is_floating_point()
            and not target.is_floating_point() and reduction in ("mean", "sum", "none")
            and target.shape == input.shape[:1] + input.shape[2:]):
        out = _CrossEntropyIndices.apply(input, target, ignore_index, reduction)
        if out is not None:
            return out
    cdim = 0 if input.dim() == 1 else 1
    logp = R.log_softmax(input, cdim)
    C = input.shape[cdim]
    wshape = [C if d == cdim else 1 for d in range(input.dim())]
    if target.is_floating_point():  # class probabilities
        t = target
        if label_smoothing > 0:
            t = R.add(R.mul(t, 1.0 - label_smoothing), label_smoothing / C)
        terms = szmul(t, logp)
        if weight is not None:
            terms = R.mul(terms, weight.reshape(wshape))
        loss = R.neg(R.sum(terms, cdim))
        if reduction == "mean":
            n = loss.numel()
            return R.div(R.sum(loss), float(n)) if n else R.sum(loss)
        return _reduce(loss, reduction)
    # class indices: the gather is linear, so torch's nll_loss (a gather/scatter) keeps the
    # contract; only log_softmax needs to be robust.
    nll = torch.nn.functional.nll_loss(logp if input.dim() > 1 else logp.unsqueeze(0),
                                       target if input.dim() > 1 else target.unsqueeze(0),
                                       weight, ignore_index=ignore_index, reduction="none")
    if input.dim() == 1:
        nll = nll.squeeze(0)
    valid = target != ignore_index
    w_t = (weight[target.clamp(0, C - 1)] if weight is not None
           else torch.ones_like(target, dtype=input.dtype))
    w_t = torch.where(valid, w_t, 0.0)
    if label_smoothing > 0:
        terms = logp if weight is None else R.mul(logp, weight.reshape(wshape))
        smooth = R.neg(R.sum(terms, cdim))
        smooth = R.where(valid, smooth, 0.0)
        loss = R.add(R.mul(nll, 1.0 - label_smoothing), R.mul(smooth, label_smoothing / C))
    else:
        loss = nll
    if reduction == "mean":
        return R.div(R.sum(loss), R.sum(w_t))
    return _reduce(loss, reduction)


class _CrossEntropyIndices(Function):
    """Cross-entropy of logits (N, C, ...) against class indices, no weight, no smoothing: one
    Function whose forward keeps softmax(x) and whose backward is one pass,
    ``(p - onehot(t)) · c`` with ``c`` the cotangent of each valid target (0 for ignored ones).
    The composition (log_softmax, then nll_loss) fills an (N, C) zero cotangent and runs
    log_softmax's backward. Under ``create_graph`` the backward is built from robust ops.

    Returns None from ``forward`` (and the caller takes the composition) when a slice of the
    logits is fully masked or non-finite, whose conventions the composition handles.
    """

    @staticmethod
    @plain
    def forward(ctx, x, target, ignore_index, reduction):
        p = torch.softmax(x, 1)  # saved: the backward is then one pass
        if _slices_nan(p, 1):
            return None
        # -log p_t = (m - x_t) - log p_max, with m = max x: p_max ≥ 1/C never underflows, and
        # both terms are ≥ 0 (no cancellation); log p_max = -log Σ exp(x - m), as log_softmax.
        m = torch.amax(x, 1, keepdim=True)
        p_max = torch.amax(p, 1, keepdim=True)  # p is monotone in x: p at the max of x
        invalid = (target == ignore_index).unsqueeze(1)
        t = target.unsqueeze(1).masked_fill(invalid, 0)
        nll = (m - x.gather(1, t)).sub_(torch.log(p_max)).masked_fill_(invalid, 0.0)
        ctx.save_for_backward(x, p, t, invalid)
        ctx.reduction = reduction
        if reduction == "none":
            return nll.squeeze(1)
        total = nll.sum()
        if reduction == "sum":
            return total
        ctx.count = invalid.numel() - invalid.sum()
        return total / ctx.count

    @staticmethod
    @plain
    def backward(ctx, g):
        x, p, t, invalid = ctx.saved_tensors
        reduction = ctx.reduction
        if torch.is_grad_enabled() or not all_finite(g) or (
                reduction == "mean" and not bool(ctx.count)):
            return _CrossEntropyIndices._careful(ctx, g, x, p, t, invalid), None, None, None
        c = g.unsqueeze(1) if reduction == "none" else g if reduction == "sum" else g / ctx.count
        gx = p * c
        gx.scatter_add_(1, t, c.neg().expand(t.shape))
        if bool(invalid.any()):
            gx.masked_fill_(invalid, 0.0)  # ignored targets: an exact 0
        return gx, None, None, None

    @staticmethod
    def _careful(ctx, g, x, p, t, invalid):
        """The backward with strong zeros (infinite cotangents, all targets ignored), and under
        create_graph built from robust operations."""
        if ctx.reduction == "none":
            c = g.unsqueeze(1)
        else:
            c = (g if ctx.reduction == "sum" else g / ctx.count).expand(invalid.shape)
        c = torch.where(invalid, 0.0, c)  # ignored targets: an exact 0
        onehot = torch.zeros_like(x).scatter_(1, t, 1.0)
        if torch.is_grad_enabled():
            return szmul(R.sub(R.exp(R.log_softmax(x, 1)), onehot), c)
        d = p - onehot
        return strong_(d * c, c.expand_as(d), d)
