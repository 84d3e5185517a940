"""Saving and loading nets, and the file format trainer checkpoints share.

A netgrad file is a **safetensors file** whose ``__metadata__`` holds one JSON document (see
:mod:`netgrad.io._bundle`). Nothing in a file is ever executed: no pickle, no ``eval``, no import
of a name found in the file. Loading refuses anything unexpected with :class:`netgrad.LoadError`.

Bundles (for checkpoints)::

    write_bundle(path, meta: dict, tensors: dict[str, Tensor]) -> None
        Atomic write (temporary file in the same folder, flush + fsync, os.replace).
        meta: JSON data (dicts with str keys, lists, str, int, float, bool, None).
        tensors: name -> dense tensor (float64/32/16, bfloat16, int64/32/16/8, uint8, bool).
    read_bundle(path, *, limits=Limits()) -> (meta, tensors)
        Validates framing, JSON (size, depth, strings), every tensor's dtype, shape, SHA-256.

A trainer checkpoint is a bundle; put the net under ``meta["net"]`` (and its tensor prefix under
``meta["net_prefix"]``) and :func:`netgrad.load` opens the checkpoint as a net too::

    net_meta, net_tensors = net_to_bundle(net, prefix="net/")
    write_bundle(path, {"net": net_meta, "net_prefix": "net/", "step": step, ...},
                 {**net_tensors, **{f"optimizer/{k}": v for k, v in opt_tensors.items()}})
    meta, tensors = read_bundle(path)
    net = net_from_bundle(meta["net"], tensors, prefix="net/")
"""

from ._bundle import DTYPES, Limits, read_bundle, write_bundle
from ._function import ALLOWED_OPERATIONS, TracedFunction
from ._net import load, net_from_bundle, net_to_bundle, save

__all__ = ["save", "load", "net_to_bundle", "net_from_bundle", "write_bundle", "read_bundle",
           "Limits", "DTYPES", "ALLOWED_OPERATIONS", "TracedFunction"]
