"""The one finiteness check: is any value NaN or infinite?"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

__all__ = ["all_finite"]


def all_finite(tensors: Iterable[Any]) -> bool:
    """True when no tensor among ``tensors`` holds a NaN or an infinity (one synchronization).

    Non-tensors, integer tensors and ``None`` count as finite. The fast path is the sum of the
    tensors' 2-norms (one fused ``torch._foreach_norm``; a single tensor: its sum): it is NaN or
    infinite whenever a tensor holds a NaN or an infinity. It can also overflow with finite
    values above ~1e19 (float32); only then is each tensor checked exactly.
    """
    ts = [t for t in tensors if isinstance(t, torch.Tensor) and t.is_floating_point()]
    if not ts:
        return True
    with torch.no_grad():
        if len(ts) > 1:
            total = torch.stack(torch._foreach_norm(ts, 2)).sum().item()
        else:
            total = (ts[0] if ts[0].numel() == 1 else ts[0].sum()).item()
        if math.isfinite(total):
            return True
        return all(bool(torch.isfinite(t).all()) for t in ts)
