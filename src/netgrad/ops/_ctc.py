"""ctc_loss: connectionist temporal classification, batch-first, per sequence.

``-log p(target | input)``, the sum over every alignment of the target to the input (with
blanks and repeats). Conventions: an empty target is the all-blank alignment; an impossible
alignment (an input too short for the target, or a target label with probability 0 wherever
it would have to be) has loss +inf (the true value, rule 7) with gradient 0, or loss 0 with
gradient 0 under ``zero_infinity=True`` (torch's option); a log-probability of ``-inf`` on a
path that is not needed gets gradient exactly 0 (torch's kernel gives NaN for the whole
sequence there).

Paths (see ``_verified.py``): torch's ``F.ctc_loss`` kernel and its closed-form backward from
the same log-domain forward-backward sums, which turns NaN exactly in the cases above;
otherwise (and for double backward, and under tracing) the alpha recursion in the log domain
with ``netgrad.ops.logsumexp`` (an all -inf set of paths: -inf, gradient 0).

torch's CTC backward is not the derivative with respect to ``log_probs``: it is that
derivative plus ``exp(log_probs)`` at every valid step (what remains after a log_softmax's
backward, which removes the extra term, so it is right only behind a log_softmax). The fast
path subtracts that term again (a zero-valued ``S.detach() - S`` with ``S = Σ exp(log_probs)``
over the valid steps), so the gradient is the true one for any input, e.g. ``log`` of
probabilities; the subtraction costs an absolute error of about one ulp of ``exp(log_probs)``
per entry.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._binary import where
from ._reductions import logsumexp
from ._verified import tracing, verified

__all__ = ["ctc_loss"]

_NEG_INF = float("-inf")


def _careful(log_probs, targets, input_lengths, target_lengths, blank, zero_infinity):
    b, t_max, _ = log_probs.shape
    s_max = targets.shape[1]
    width = 2 * s_max + 1
    dev = log_probs.device
    ext = torch.full((b, width), blank, dtype=torch.long, device=dev)
    if s_max:
        ext[:, 1::2] = targets
    skip = torch.zeros(b, width, dtype=torch.bool, device=dev)
    if width > 2:
        skip[:, 2:] = (ext[:, 2:] != ext[:, :-2]) & (ext[:, 2:] != blank)
    lp = torch.gather(log_probs, 2, ext[:, None, :].expand(b, t_max, width))  # (B, T, 2S+1)
    il = input_lengths.to(dev)[:, None]
    ninf = log_probs.new_full((b, 1), _NEG_INF)
    if t_max == 0:
        alpha = log_probs.new_full((b, width), _NEG_INF)
    else:
        start = torch.cat([lp[:, 0, :min(2, width)],
                           log_probs.new_full((b, max(0, width - 2)), _NEG_INF)], 1)
        alpha = start
    for t in range(1, t_max):
        stay = alpha
        step = torch.cat([ninf, alpha[:, :-1]], 1)
        jump = where(skip, torch.cat([ninf, ninf, alpha[:, :-2]], 1)[:, :width], _NEG_INF)
        new = logsumexp(torch.stack([stay, step, jump], -1), -1) + lp[:, t]
        alpha = where(t < il, new, alpha)
    tl = target_lengths.to(dev)
    last = torch.gather(alpha, 1, (2 * tl)[:, None])[:, 0]
    before = torch.gather(alpha, 1, (2 * tl - 1).clamp_min(0)[:, None])[:, 0]
    before = where(tl > 0, before, _NEG_INF)
    loss = -logsumexp(torch.stack([last, before], -1), -1)
    # an empty input: probability 1 for an empty target, 0 otherwise
    empty = input_lengths.to(dev) == 0
    loss = where(empty, where(tl == 0, 0.0, float("inf")), loss)
    if zero_infinity:
        loss = where(torch.isinf(loss), 0.0, loss)
    return (loss,)


def _fused(log_probs, targets, input_lengths, target_lengths, blank, zero_infinity):
    """torch's kernel with its gradient made the true derivative (see the module docstring).
    An impossible alignment's gradient is NaN, so the composition takes over the backward."""
    loss = F.ctc_loss(log_probs.transpose(0, 1), targets, input_lengths, target_lengths,
                      blank=blank, reduction="none", zero_infinity=False)
    valid = torch.arange(log_probs.shape[1], device=log_probs.device)[None, :] < \
        input_lengths.to(log_probs.device)[:, None]
    s = (torch.exp(log_probs) * valid[..., None]).sum((1, 2))
    loss = loss + (s.detach() - s)
    return (torch.where(torch.isinf(loss), 0.0, loss) if zero_infinity else loss,)


def ctc_loss(log_probs: torch.Tensor, targets: torch.Tensor, input_lengths=None,
             target_lengths=None, *, blank: int = 0, zero_infinity: bool = False) -> torch.Tensor:
    """The CTC loss of each sequence of a padded batch.

    Args:
        log_probs: ``(B, T, C)`` log-probabilities (batch first; torch's F.ctc_loss is
            time first).
        targets: ``(B, S)`` class indices, padded; no index equals ``blank``.
        input_lengths, target_lengths: ``(B,)`` ints (None: T and S).
        blank: the blank class.
        zero_infinity: an impossible alignment gives 0 instead of +inf (gradient 0 either way).

    Returns:
        ``(B,)``: ``-log p(target | input)`` per sequence.
    """
    b, t_max, c = log_probs.shape
    if input_lengths is None:
        input_lengths = torch.full((b,), t_max, dtype=torch.long)
    if target_lengths is None:
        target_lengths = torch.full((b,), targets.shape[1], dtype=torch.long)
    input_lengths = torch.as_tensor(input_lengths, dtype=torch.long)
    target_lengths = torch.as_tensor(target_lengths, dtype=torch.long)
    targets = targets.long()
    args = (log_probs, targets, input_lengths, target_lengths, blank, zero_infinity)
    if tracing() or t_max == 0 or bool((input_lengths == 0).any()):
        return _careful(*args)[0]
    return verified(lambda lp, tg, il, tl: _fused(lp, tg, il, tl, blank, zero_infinity),
                    lambda lp, tg, il, tl: _careful(lp, tg, il, tl, blank, zero_infinity),
                    log_probs, targets, input_lengths, target_lengths)[0]
