"""Recurrent layers and attention, forward + backward, against PyTorch's fused modules.

    python bench/sequences.py [--threads 1 2] [--rounds 9] [--batch 32] [--length 100]
                              [--size 128] [--heads 4] [--only NAME ...]

Each row times netgrad against plain PyTorch on the same float32 data in the same run
(interleaved rounds, order shuffled each round; the median of the per-round ratios and the
ratio of the minima), at each thread count:

* ``lstm`` / ``gru``: ``LongShortTermMemoryLayer(n)`` / ``GatedRecurrentLayer(n)`` (their
  forward, i.e. ``netgrad.ops.lstm``/``gru`` on the gate arrays) against ``nn.LSTM`` /
  ``nn.GRU``; loss ``output.sum()``, gradients of the input and every array. Target ≤ 1.5×.
* ``lstm (lengths)``, ``gru (lengths)``: the same on sequences of mixed lengths (half to all of
  ``length``), netgrad's lengths against the module on a packed sequence (what PyTorch users
  write for mixed lengths). Target ≤ 1.5×.
* ``attention``: ``AttentionLayer(heads=h)`` self-attention on ``(batch, length, size)``
  against ``F.scaled_dot_product_attention`` with the same head split; ``attention
  (lengths)``: padded keys (a boolean mask for torch). Target ≤ 1.2×.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from _common import interleaved_ratio

from netgrad import NetInitialize
from netgrad.layers import AttentionLayer, GatedRecurrentLayer, LongShortTermMemoryLayer

TARGETS = {"lstm": 1.5, "gru": 1.5, "lstm (lengths)": 1.5, "gru (lengths)": 1.5, "attention": 1.2,
           "attention (lengths)": 1.2}


def _lengths(b: int, t: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    n = torch.randint(t // 2, t + 1, (b,), generator=g)
    n[0] = t
    return n


def _recurrent(kind: str, b: int, t: int, k: int, lengths: bool):
    torch.manual_seed(0)
    ref = (torch.nn.LSTM if kind == "lstm" else torch.nn.GRU)(k, k, batch_first=True)
    layer = NetInitialize((LongShortTermMemoryLayer if kind == "lstm" else GatedRecurrentLayer)(
        k, input=("Varying", k)), seed=0)
    x = torch.randn(b, t, k)
    n = _lengths(b, t) if lengths else None
    params = list(layer.parameters())
    ref_params = list(ref.parameters())

    def ours():
        xs = x.detach().requires_grad_()
        out = layer.forward(xs, lengths=n)["Output"]
        torch.autograd.grad(out.sum(), [xs] + params)

    def theirs():
        xs = x.detach().requires_grad_()
        if n is None:
            out = ref(xs)[0]
        else:
            packed = pack_padded_sequence(xs, n, batch_first=True, enforce_sorted=False)
            out = pad_packed_sequence(ref(packed)[0], batch_first=True, total_length=t)[0]
        torch.autograd.grad(out.sum(), [xs] + ref_params)

    return ours, theirs


def _attention(b: int, t: int, k: int, h: int, lengths: bool):
    torch.manual_seed(0)
    layer = AttentionLayer(heads=h)
    x = torch.randn(b, t, k)
    n = _lengths(b, t) if lengths else None
    mask = None if n is None else \
        (torch.arange(t)[None, :] < n[:, None])[:, None, None, :]

    def ours():
        xs = x.detach().requires_grad_()
        out = layer.forward(xs, xs, xs, key_lengths=n)
        torch.autograd.grad(out.sum(), xs)

    def theirs():
        xs = x.detach().requires_grad_()
        q = xs.reshape(b, t, h, -1).transpose(1, 2)
        o = F.scaled_dot_product_attention(q, q, q, attn_mask=mask)
        out = o.transpose(1, 2).reshape(b, t, -1)
        torch.autograd.grad(out.sum(), xs)

    return ours, theirs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--length", type=int, default=100)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--only", nargs="+", default=None, help="row names (e.g. lstm attention)")
    args = ap.parse_args()
    b, t, k = args.batch, args.length, args.size
    cases = {
        "lstm": lambda: _recurrent("lstm", b, t, k, False),
        "gru": lambda: _recurrent("gru", b, t, k, False),
        "lstm (lengths)": lambda: _recurrent("lstm", b, t, k, True),
        "gru (lengths)": lambda: _recurrent("gru", b, t, k, True),
        "attention": lambda: _attention(b, t, k, args.heads, False),
        "attention (lengths)": lambda: _attention(b, t, k, args.heads, True),
    }
    if args.only:
        cases = {n: c for n, c in cases.items() if any(n.startswith(o) for o in args.only)}
    missed = 0
    for threads in args.threads:
        torch.set_num_threads(threads)
        print(f"forward + backward, float32, batch {b}, length {t}, size {k}, heads "
              f"{args.heads}, torch {torch.__version__}, {threads} thread(s); median of "
              f"{args.rounds} interleaved rounds")
        print(f"{'case':22s} {'torch ms':>9s} {'netgrad ms':>10s} {'ratio':>6s} {'(min)':>6s}  target")
        for name, make in cases.items():
            ours, theirs = make()
            med, mins, t_ours, t_theirs = interleaved_ratio(ours, theirs, rounds=args.rounds,
                                                            number=2, window=0.2)
            target = TARGETS[name]
            ok = med <= target
            missed += not ok
            print(f"{name:22s} {t_theirs * 1e3:9.2f} {t_ours * 1e3:10.2f} {med:6.2f} {mins:6.2f}  "
                  f"{'ok' if ok else 'MISSED'} (≤ {target})")
        print()
    print(f"targets missed: {missed}")


if __name__ == "__main__":
    main()
