"""The progress bar: tqdm with the loss and the rate in a terminal, silent otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any

__all__ = ["Progress"]


class Progress:
    """A tqdm bar on stderr when ``enabled`` and stderr is a terminal; otherwise nothing."""

    def __init__(self, enabled: bool, total: int | None, initial: int = 0) -> None:
        self.bar: Any = None
        self._last = 0.0
        if enabled and sys.stderr.isatty():
            from tqdm.auto import tqdm
            self.bar = tqdm(total=total, initial=initial, unit="batch", dynamic_ncols=True,
                            leave=True, file=sys.stderr)

    def update(self, round_index: int, loss: float | None) -> None:
        if self.bar is None:
            return
        self.bar.update(1)
        now = time.monotonic()
        if loss is not None and now - self._last > 0.2:
            self._last = now
            self.bar.set_postfix(round=round_index + 1, loss=f"{loss:.4g}", refresh=False)

    def write(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
