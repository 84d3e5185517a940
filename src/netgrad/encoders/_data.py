"""Encoders and decoders as data, for saved nets: ``{"kind": "Image", "config": {...}}``.

Saving refuses what is code (a "Function" encoder). Loading accepts only registered kinds whose
constructors take exactly the saved options, each option JSON data of the expected form; a
crafted file can make an encoder of a known kind with bad options (refused with LoadError by
the constructor's own checks), never run code.
"""

from __future__ import annotations

import inspect
from typing import Any

from .._errors import LoadError, NetgradError, NetTypeError
from ._base import DECODER_TYPES, ENCODER_TYPES, NetDecoder, NetEncoder, short_repr

__all__ = ["coder_to_data", "coder_from_data", "MAX_LABELS"]

#: labels, tokens or characters a loaded coder may hold
MAX_LABELS = 1_000_000
_NOT_DATA = frozenset({"Function"})


def coder_to_data(coder: NetEncoder | NetDecoder, where: str) -> dict[str, Any]:
    """An encoder or decoder as JSON data; a Function encoder (code) cannot be saved."""
    if coder.kind in _NOT_DATA:
        raise NetTypeError("a net is saved as data, and a function encoder holds code",
                           where=where, got=f"got {coder!r}",
                           fix="save the net without it (e.g. its vertices in a NetChain with "
                               "input=<shape>); after loading, wrap it again: "
                               'NetChain({"net": net}, input=NetEncoder("Function", f, ...))')
    return {"kind": coder.kind, "config": coder.get_config()}


def _options(cls: type) -> set[str]:
    params = list(inspect.signature(cls).parameters.values())[1:]  # kind
    return {p.name for p in params}


def _json_value(value: Any, depth: int = 0) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return not isinstance(value, str) or len(value) <= MAX_LABELS
    if isinstance(value, list) and depth < 2 and len(value) <= MAX_LABELS:
        return all(_json_value(v, depth + 1) for v in value)
    return False


def coder_from_data(data: Any, family: str, where: str) -> NetEncoder | NetDecoder:
    """Rebuild an encoder (``family="encoder"``) or decoder from :func:`coder_to_data`'s data.

    Raises:
        LoadError: anything but a known kind with its own options as plain data.
    """
    table = ENCODER_TYPES if family == "encoder" else DECODER_TYPES
    what = "NetEncoder" if family == "encoder" else "NetDecoder"
    if not isinstance(data, dict) or set(data) != {"kind", "config"}:
        raise LoadError(f'a saved {what} is {{"kind": ..., "config": {{...}}}}', where=where,
                        got=f"got {short_repr(data)}", fix="the file is corrupted")
    kind, config = data["kind"], data["config"]
    if not isinstance(kind, str) or kind not in table or kind in _NOT_DATA:
        known = sorted(k for k in table if k not in _NOT_DATA)
        raise LoadError(f"a saved {what} is one of the kinds {known}", where=where,
                        got=f"got kind {short_repr(kind)}", fix="the file is corrupted or newer")
    cls = table[kind]
    if not isinstance(config, dict) or not set(config) <= _options(cls):
        raise LoadError(f'a saved {what}("{kind}") has the options {sorted(_options(cls))}',
                        where=where, got=f"got {short_repr(config)}", fix="the file is corrupted")
    bad = [k for k, v in config.items() if not _json_value(v)]
    if bad:
        raise LoadError(f'a saved {what}("{kind}") has options of plain data (numbers, strings, '
                        f"lists of at most {MAX_LABELS})", where=where,
                        got=f"got {bad[0]}={short_repr(config[bad[0]])}", fix="the file is corrupted")
    try:
        return (NetEncoder if family == "encoder" else NetDecoder)(kind, **config)
    except NetgradError as e:
        raise LoadError(f'a saved {what}("{kind}") has valid options', where=where,
                        got=f"got {e.rule}{'; ' + e.got if e.got else ''}",
                        fix="the file is corrupted") from None
