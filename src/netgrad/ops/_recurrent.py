"""Recurrences over padded batches of sequences: lstm, gru, rnn_tanh.

Each takes a batch-first input ``(B, T, k)``, optional ``lengths`` ``(B,)`` (sequence ``b`` has
``lengths[b]`` valid steps; the rest is padding) and initial states ``(B, n)``, with the
weights in torch's layout (``nn.LSTM``'s ``weight_ih_l0`` etc.). They return the output
sequence ``(B, T, n)``, exactly 0 past each sequence's end, and the final states **at each
sequence's own end** (no state update past it); padding gets gradient exactly 0.

Paths (see ``_verified.py``):

* torch's fused recurrence (``torch.lstm``/``gru``/``rnn_tanh``) with its own backward; for
  lengths that differ the LSTM runs on a packed sequence, the GRU and RNN on the padded batch
  with the final state read at each sequence's last step (their state is their output).
  Why that is the robust result when it holds no NaN: every step is
  ``gates = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh`` followed by σ, tanh and products; the backward
  multiplies the cotangent by the weights, the inputs, the gate values (in [0, 1] or
  [-1, 1]) and their derivatives (σ(1 - σ), 1 - tanh², in [0, 1]). With finite inputs,
  weights, states and cotangent every factor is finite, so ``0 · ∞`` and ``∞ - ∞`` cannot
  occur, and any other non-finite case shows up as a NaN in the result, which is then
  recomputed by the composition. The one rounding difference: where tanh or σ saturate, the
  fused kernel forms ``1 - y²`` (absolute error ≤ 2 ulp of 1, so it may round to 0 where
  netgrad's tanh keeps ~1e-17); that is an absolute error of the order of the rounding of the
  gate sums the derivative multiplies into.
* the composition of netgrad.ops, one step at a time with ``where`` keeping finished
  sequences' states: used when the fused result holds a NaN, for double backward, under
  torch.compile/torch.func, for a zero-length sequence, and for the dropout masks the fused
  kernel cannot apply (``state_keep``: the same mask on the state at every step;
  ``update_keep``: a mask on the candidate state, Semeniuta et al. 2016).
"""

from __future__ import annotations

import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from ._arith import add, mul
from ._binary import where
from ._elementwise import logistic_sigmoid, tanh
from ._linalg import linear
from ._verified import tracing, verified

__all__ = ["lstm", "gru", "rnn_tanh"]


# ----------------------------------------------------------------------------- steps
def _lstm_step(gx, h, c, w_hh, b_hh, linear):
    i, f, g, o = add(gx, linear(h, w_hh, b_hh)).chunk(4, -1)
    return logistic_sigmoid(i), logistic_sigmoid(f), tanh(g), logistic_sigmoid(o)


def _linear():
    """The affine map of the composition: netgrad's linear (strong zeros in its backward); while
    tracing, torch's until linear is a registry rule (its products are then optimistic, as the
    sync-free matmul is)."""
    return linear if not tracing() else torch.nn.functional.linear


def _run(kind, x, lengths, states, w_ih, w_hh, b_ih, b_hh, state_keep=None, update_keep=None):
    """The composition: one step at a time; finished sequences keep their state."""
    T = x.shape[1]
    linear = _linear()
    gx_all = linear(x, w_ih, b_ih)
    active = None if lengths is None else \
        (torch.arange(T, device=x.device)[None, :] < lengths.to(x.device)[:, None]).unsqueeze(-1)
    states = list(states)
    outs = []
    for t in range(T):
        h = states[0]
        hs = h if state_keep is None else mul(h, state_keep)
        gx = gx_all[:, t]
        if kind == "lstm":
            i, f, g, o = _lstm_step(gx, hs, states[1], w_hh, b_hh, linear)
            if update_keep is not None:
                g = mul(g, update_keep)
            c = add(mul(f, states[1]), mul(i, g))
            new = [mul(o, tanh(c)), c]
        elif kind == "gru":
            xr, xz, xn = gx.chunk(3, -1)
            hr, hz, hn = linear(hs, w_hh, b_hh).chunk(3, -1)
            r = logistic_sigmoid(add(xr, hr))
            z = logistic_sigmoid(add(xz, hz))
            m = tanh(add(xn, mul(r, hn)))
            if update_keep is not None:
                m = mul(m, update_keep)
            new = [add(mul(1.0 - z, m), mul(z, h))]
        else:
            new = [tanh(add(gx, linear(hs, w_hh, b_hh)))]
        if active is None:
            states = new
            outs.append(new[0])
        else:
            a = active[:, t]
            states = [where(a, s_new, s) for s_new, s in zip(new, states)]
            outs.append(where(a, new[0], 0.0))
    if outs:
        out = torch.stack(outs, 1)
    else:
        out = x.new_zeros(x.shape[0], 0, w_hh.shape[1])
    return (out, *states)


_FUSED = {"lstm": torch.lstm, "gru": torch.gru, "rnn_tanh": torch.rnn_tanh}


def _fused(kind, x, lengths, states, params):
    """torch's fused kernel (packed when the lengths differ)."""
    fn = _FUSED[kind]
    hx = tuple(s.unsqueeze(0) for s in states)
    hx_arg = hx if kind == "lstm" else hx[0]
    if lengths is None:
        res = fn(x, hx_arg, params, True, 1, 0.0, False, False, True)
        return (res[0], *(s[0] for s in res[1:]))
    T = x.shape[1]
    if kind != "lstm":
        # The state is the output: each output before a sequence's end does not depend on the
        # padding after it, so the unpacked kernel (several times faster on the CPU than a
        # packed sequence) gives every valid output, and the final state is the output at the
        # last valid step. Padding gets cotangent 0 through the mask, hence gradient 0.
        res = fn(x, hx_arg, params, True, 1, 0.0, False, False, True)
        valid = (torch.arange(T, device=x.device)[None, :] < lengths.to(x.device)[:, None])
        out = torch.where(valid.unsqueeze(-1), res[0], 0.0)
        last = res[0][torch.arange(x.shape[0], device=x.device), lengths.to(x.device) - 1]
        return out, last
    # The LSTM's cell state is not in its output: the packed kernel stops each sequence.
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    srt, uns = packed.sorted_indices, packed.unsorted_indices
    hx_sorted = tuple(s.index_select(1, srt) for s in hx)
    res = fn(packed.data, packed.batch_sizes, hx_sorted if kind == "lstm" else hx_sorted[0],
             params, True, 1, 0.0, False, False)
    out, _ = pad_packed_sequence(PackedSequence(res[0], packed.batch_sizes, srt, uns),
                                 batch_first=True, total_length=T)
    return (out, *(s[0].index_select(0, uns) for s in res[1:]))


def _recurrence(kind, x, w_ih, w_hh, b_ih, b_hh, lengths, states, state_keep, update_keep):
    B, T, _ = x.shape
    n = w_hh.shape[1]
    states = [x.new_zeros(B, n) if s is None else s for s in states]
    if lengths is not None:
        lengths = torch.as_tensor(lengths, dtype=torch.long)
        if lengths.shape != (B,):
            raise ValueError(f"{kind}: lengths must have shape ({B},), one per sequence; got "
                             f"{tuple(lengths.shape)}")
    if b_ih is None:
        b_ih = x.new_zeros(w_ih.shape[0])
    if b_hh is None:
        b_hh = x.new_zeros(w_hh.shape[0])
    careful = lambda x, lengths, w_ih, w_hh, b_ih, b_hh, *states: _run(  # noqa: E731
        kind, x, lengths, states, w_ih, w_hh, b_ih, b_hh, state_keep, update_keep)
    args = (x, lengths, w_ih, w_hh, b_ih, b_hh, *states)
    if tracing() or state_keep is not None or update_keep is not None or T == 0:
        return careful(*args)
    if lengths is not None:
        lo, hi = (int(v) for v in torch.aminmax(lengths))
        if lo < 0 or hi > T:
            raise ValueError(f"{kind}: lengths lie in [0, {T}] (the padded length); got "
                             f"lengths from {lo} to {hi}")
        if lo == 0:  # a packed sequence cannot hold an empty one
            return careful(*args)
        if lo == T:
            lengths = None
            args = (x, None, w_ih, w_hh, b_ih, b_hh, *states)
    fast = lambda x, lengths, w_ih, w_hh, b_ih, b_hh, *states: _fused(  # noqa: E731
        kind, x, lengths, states, [w_ih, w_hh, b_ih, b_hh])
    return verified(fast, careful, *args)


def lstm(input: torch.Tensor, weight_ih: torch.Tensor, weight_hh: torch.Tensor,
         bias_ih: torch.Tensor | None = None, bias_hh: torch.Tensor | None = None, *,
         lengths=None, state: torch.Tensor | None = None, cell_state: torch.Tensor | None = None,
         state_keep: torch.Tensor | None = None, update_keep: torch.Tensor | None = None):
    """LSTM over a padded batch (gates i, f, g, o stacked as in ``nn.LSTM``).

    Shape:
        input ``(B, T, k)``; weight_ih ``(4n, k)``; weight_hh ``(4n, n)``; biases ``(4n,)``;
        lengths ``(B,)`` ints in [0, T] (None: all T); state, cell_state ``(B, n)`` (None: 0);
        state_keep ``(B, n)`` multiplies the state entering W_hh at every step; update_keep
        ``(B, n)`` multiplies the candidate g.

    Returns:
        ``(output (B, T, n), state (B, n), cell_state (B, n))``: output 0 past each length,
        states at each sequence's last valid step.
    """
    return _recurrence("lstm", input, weight_ih, weight_hh, bias_ih, bias_hh, lengths,
                       [state, cell_state], state_keep, update_keep)


def gru(input: torch.Tensor, weight_ih: torch.Tensor, weight_hh: torch.Tensor,
        bias_ih: torch.Tensor | None = None, bias_hh: torch.Tensor | None = None, *,
        lengths=None, state: torch.Tensor | None = None, state_keep: torch.Tensor | None = None,
        update_keep: torch.Tensor | None = None):
    """GRU over a padded batch, ``nn.GRU``'s formula and layout (gates r, z, n):
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (1 - z) ⊙ n + z ⊙ h.

    Shape: as :func:`lstm` with 3n in place of 4n. Returns ``(output, state)``.
    """
    return _recurrence("gru", input, weight_ih, weight_hh, bias_ih, bias_hh, lengths, [state],
                       state_keep, update_keep)


def rnn_tanh(input: torch.Tensor, weight_ih: torch.Tensor, weight_hh: torch.Tensor,
             bias_ih: torch.Tensor | None = None, bias_hh: torch.Tensor | None = None, *,
             lengths=None, state: torch.Tensor | None = None,
             state_keep: torch.Tensor | None = None):
    """Elman RNN over a padded batch, h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (``nn.RNN``).

    Shape: as :func:`lstm` with n in place of 4n. Returns ``(output, state)``.
    """
    return _recurrence("rnn_tanh", input, weight_ih, weight_hh, bias_ih, bias_hh, lengths,
                       [state], state_keep, None)
