"""Forward + backward of each robust operation against its native torch counterpart.

Same data (1e6 float32 elements on CPU, random normal unless stated), same run; prints the
time ratio netgrad / torch. Targets: elementwise within 1.5x, reductions and matmul within 1.2x.
A second table measures ways of imposing strong zeros on a backward product g * d.

Methodology (the machine is shared): native and netgrad are timed in interleaved rounds, in a
shuffled order each round, so a burst of load hits both; each timing covers at least 30 ms; the
ratio printed is the median of the per-round ratios (the ratio of the two minima beside it).

glibc returns freed 4 MB blocks to the OS whenever the top of its heap is free, and every fresh
block then costs ~1000 page faults on first touch. In a benchmark that allocates and frees the
same few tensors (an otherwise empty heap) that lottery decides the ratios: adding one read-only
reduction to a backward changed a fwd+bwd time by +100% in one heap layout and by 0% in another.
``--malloc keep`` (the default) calls ``mallopt`` in this process so freed memory is kept and
reused (as jemalloc, tcmalloc and a busy training process do); ``--malloc system`` leaves glibc
as it is. Both sides of every ratio run under the same setting.

    python bench/ops.py [--quick] [--threads 1] [--malloc keep|system] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import best_time, fwd_bwd, interleaved_ratio  # noqa: E402

from netgrad import ops  # noqa: E402
from netgrad.ops._core import strong_  # noqa: E402

N = 1_000_000


def _cases():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, generator=g)
    y = torch.randn(N, generator=g)
    pos = torch.rand(N, generator=g) + 0.1
    prob = torch.rand(N, generator=g) * 0.98 + 0.01
    tgt = torch.rand(N, generator=g)
    m = torch.randn(1000, 1000, generator=g)
    m2 = torch.randn(1000, 1000, generator=g)
    small = torch.randn(1000, 1000, generator=g) * 0.1 + 1.0
    lab = torch.randint(0, 1000, (1000,), generator=g)
    w = torch.randn(1000, 1000, generator=g)
    b = torch.randn(1000, generator=g)
    p3 = torch.tensor(3.0)
    E, R, M = "elementwise", "reduction", "matmul"
    return [
        ("mul", E, ops.mul, torch.mul, (x, y)),
        ("div", E, ops.div, torch.div, (x, pos)),
        ("pow (tensor p)", E, ops.pow, torch.pow, (pos, y)),
        ("sqrt", E, ops.sqrt, torch.sqrt, (pos,)),
        ("exp", E, ops.exp, torch.exp, (x,)),
        ("log", E, ops.log, torch.log, (pos,)),
        ("log1p", E, ops.log1p, torch.log1p, (pos,)),
        ("expm1", E, ops.expm1, torch.expm1, (x,)),
        ("abs", E, ops.abs, torch.abs, (x,)),
        ("ramp", E, ops.ramp, torch.relu, (x,)),
        ("sign", E, ops.sign, torch.sign, (x,)),
        ("tanh", E, ops.tanh, torch.tanh, (x,)),
        ("logistic_sigmoid", E, ops.logistic_sigmoid, torch.sigmoid, (x,)),
        ("softplus", E, ops.softplus, F.softplus, (x,)),
        ("sin", E, ops.sin, torch.sin, (x,)),
        ("cos", E, ops.cos, torch.cos, (x,)),
        ("sinc", E, ops.sinc, torch.sinc, (x,)),
        ("atan2", E, ops.atan2, torch.atan2, (x, y)),
        ("hypot", E, ops.hypot, torch.hypot, (x, y)),
        ("xlogy", E, ops.xlogy, torch.xlogy, (x, pos)),
        ("where", E, lambda a, c: ops.where(a > 0, a, c), lambda a, c: torch.where(a > 0, a, c),
         (x, y)),
        ("clip", E, lambda a: ops.clip(a, -1.0, 1.0), lambda a: torch.clip(a, -1.0, 1.0), (x,)),
        ("maximum", E, ops.maximum, torch.maximum, (x, y)),
        ("minimum", E, ops.minimum, torch.minimum, (x, y)),
        ("binary_cross_entropy", E, ops.binary_cross_entropy, F.binary_cross_entropy,
         (prob, tgt)),
        ("sum", R, ops.sum, torch.sum, (x,)),
        ("mean (dim=1)", R, lambda a: ops.mean(a, 1), lambda a: torch.mean(a, 1), (m,)),
        ("amax (dim=1)", R, lambda a: ops.amax(a, 1), lambda a: torch.amax(a, 1), (m,)),
        ("prod (dim=1)", R, lambda a: ops.prod(a, 1), lambda a: torch.prod(a, 1), (small,)),
        ("cumprod (dim=1)", R, lambda a: ops.cumprod(a, 1), lambda a: torch.cumprod(a, 1),
         (small,)),
        ("logsumexp (dim=1)", R, lambda a: ops.logsumexp(a, 1),
         lambda a: torch.logsumexp(a, 1), (m,)),
        ("softmax (dim=1)", R, lambda a: ops.softmax(a, 1), lambda a: torch.softmax(a, 1), (m,)),
        ("log_softmax (dim=1)", R, lambda a: ops.log_softmax(a, 1),
         lambda a: torch.log_softmax(a, 1), (m,)),
        ("norm 2 (dim=1)", R, lambda a: ops.norm(a, 2, 1),
         lambda a: torch.linalg.vector_norm(a, 2, 1), (m,)),
        ("norm p=3 tensor (dim=1)", R, lambda a, p: ops.norm(a, p, 1),
         lambda a, p: torch.linalg.vector_norm(a, 3.0, 1), (m, p3)),
        ("var (dim=1)", R, lambda a: ops.var(a, 1), lambda a: torch.var(a, 1), (m,)),
        ("std (dim=1)", R, lambda a: ops.std(a, 1), lambda a: torch.std(a, 1), (m,)),
        ("normalize (dim=1)", R, lambda a: ops.normalize(a, dim=1),
         lambda a: F.normalize(a, dim=1), (m,)),
        ("cosine_similarity", R, ops.cosine_similarity, F.cosine_similarity, (m, m2)),
        ("cross_entropy", R, lambda a: ops.cross_entropy(a, lab),
         lambda a: F.cross_entropy(a, lab), (m,)),
        ("matmul 1000²", M, ops.matmul, torch.matmul, (m, m2)),
        ("linear 1000²", M, ops.linear, F.linear, (m, w, b)),
    ]


def _strong_zero_table(repeat: int, number: int) -> list[tuple[str, float]]:
    g = torch.randn(N)
    d = torch.randn(N)

    def plain():
        return g * d

    def with_where():
        return torch.where(g == 0, 0.0, g * d)

    def with_masked_fill():
        r = g * d
        return r.masked_fill_(g == 0, 0.0)

    def with_isnan_any():
        r = g * d
        if bool(torch.isnan(r).any()):
            r.masked_fill_(torch.isnan(r) & ((g == 0) | (d == 0)), 0.0)
        return r

    def with_netgrad():  # netgrad's strong_: one amax pass detects NaN, masks only if needed
        return strong_(g * d, g, d)

    base = best_time(plain, repeat, number)
    return [(name, best_time(fn, repeat, number) / base) for name, fn in (
        ("g * d (no strong zeros)", plain), ("torch.where(g == 0, 0, g * d)", with_where),
        ("(g * d).masked_fill_(g == 0, 0)", with_masked_fill),
        ("g * d, then isnan().any(), mask only if needed", with_isnan_any),
        ("g * d, then isnan(amax()), mask only if needed (netgrad)", with_netgrad))]


def _keep_freed_memory() -> bool:
    """glibc: never trim the heap, and serve blocks up to 32 MB from it (not from mmap)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        return bool(libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)) and \
            bool(libc.mallopt(M_MMAP_THRESHOLD, 32 << 20))
    except (OSError, AttributeError):
        return False


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--only", nargs="*", default=None,
                        help="run only the operations whose name contains one of these")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds per op")
    parser.add_argument("--no-strong-zero-table", action="store_true")
    parser.add_argument("--malloc", choices=("keep", "system"), default="keep",
                        help="keep: glibc keeps freed memory (mallopt); system: as it is")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    malloc = "system"
    if args.malloc == "keep":
        malloc = "keep (mallopt)" if _keep_freed_memory() else "system (mallopt unavailable)"
    repeat, number = (3, 2) if args.quick else (9, 3)
    if args.rounds:
        repeat = args.rounds
    target = {"elementwise": 1.5, "reduction": 1.2, "matmul": 1.2}
    print(f"forward + backward, 1e6 float32 elements, CPU, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, malloc {malloc}; median of {repeat} interleaved "
          f"rounds of >= 30 ms")
    print(f"{'operation':28} {'family':12} {'torch ms':>9} {'netgrad ms':>10} {'ratio':>6} "
          f"{'(min)':>6}  target")
    missed = 0
    for name, family, ng, pt, inputs in _cases():
        if args.only is not None and not any(o in name for o in args.only):
            continue
        ratio, rmin, t_ng, t_pt = interleaved_ratio(fwd_bwd(ng, *inputs), fwd_bwd(pt, *inputs),
                                                    repeat, number)
        ok = ratio <= target[family]
        missed += not ok
        print(f"{name:28} {family:12} {t_pt * 1e3:9.2f} {t_ng * 1e3:10.2f} {ratio:6.2f} "
              f"{rmin:6.2f}  {'ok' if ok else 'MISSED'} (≤ {target[family]})", flush=True)
    print(f"\ntargets missed: {missed}")
    if args.no_strong_zero_table:
        return 0
    print("\nstrong zeros on a backward product (time / plain g * d, 1e6 float32):")
    for name, ratio in _strong_zero_table(repeat, number):
        print(f"  {name:62} {ratio:5.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
