"""Bundles: one file holding a JSON document and named tensors, written atomically, read safely.

A bundle **is a safetensors file**. Its ``__metadata__`` has one entry, ``"netgrad"``, a JSON
string::

    {"format": "netgrad.bundle", "version": 1,
     "meta": <the caller's JSON document>,
     "arrays": {"<tensor key>": {"dtype": "float32", "shape": [3, 2], "sha256": "<hex>"}, ...}}

and the tensors are stored by safetensors (raw little-endian bytes at offsets the header
declares). Reading never unpickles, evaluates or imports anything: the header is parsed by the
safetensors library (which checks that the declared offsets cover the file exactly), the JSON
by :func:`json.loads` under size and depth limits, and every tensor is checked against its
record (dtype, shape, SHA-256 of its bytes) before it is returned.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

import torch

from .._errors import FileError, LoadError, MissingFileError, NetTypeError, NetValueError

__all__ = ["write_bundle", "read_bundle", "Limits", "DTYPES"]

FORMAT = "netgrad.bundle"
VERSION = 1
_META_KEY = "netgrad"
_N_LEN = 8
_SAFETENSORS_MAX_HEADER = 100_000_000  # the safetensors library refuses larger headers

#: The tensor dtypes a bundle may hold, by the name used in the JSON records.
DTYPES: dict[str, torch.dtype] = {
    "float64": torch.float64, "float32": torch.float32, "float16": torch.float16,
    "bfloat16": torch.bfloat16, "int64": torch.int64, "int32": torch.int32,
    "int16": torch.int16, "int8": torch.int8, "uint8": torch.uint8, "bool": torch.bool,
}
_DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
#: The same dtypes as the safetensors header spells them.
_ST_DTYPES = {"float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16",
              "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8",
              "bool": "BOOL"}

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class Limits:
    """What a reader accepts before it refuses a file (all checked before anything is built).

    Attributes:
        max_json_bytes: length of the JSON document (UTF-8 bytes).
        max_depth: nesting of lists and objects in the JSON document.
        max_string: length of any one string (or object key) in the JSON document.
        max_elements: total number of array elements a net may declare (arrays stored in the
            file and arrays that will be created uninitialized).
    """

    max_json_bytes: int = 16 * 2**20
    max_depth: int = 64
    max_string: int = 2**16
    max_elements: int = 2**31


DEFAULT_LIMITS = Limits()


# ---- writing ------------------------------------------------------------------------------------

def _check_json_value(value: Any, where: str, limits: Limits) -> None:
    """Refuse at write time what the reader would refuse (and what JSON cannot round-trip)."""
    stack = [(value, where, 1)]
    while stack:
        v, w, depth = stack.pop()
        if depth > limits.max_depth:
            raise NetValueError(f"bundle metadata may nest at most {limits.max_depth} levels",
                                where=w, got=f"got deeper nesting at {w}")
        if isinstance(v, Mapping):
            for k, item in v.items():
                if not isinstance(k, str):
                    raise NetTypeError("bundle metadata keys must be strings", where=w,
                                       got=f"got key {k!r} of type {type(k).__name__}",
                                       fix="convert the key with str()")
                if len(k) > limits.max_string:
                    raise NetValueError(f"bundle metadata strings have at most "
                                        f"{limits.max_string} characters", where=w,
                                        got=f"got a key of {len(k)} characters")
                stack.append((item, f"{w}[{k!r}]", depth + 1))
        elif isinstance(v, (list, tuple)):
            for i, item in enumerate(v):
                stack.append((item, f"{w}[{i}]", depth + 1))
        elif isinstance(v, str):
            if len(v) > limits.max_string:
                raise NetValueError(f"bundle metadata strings have at most {limits.max_string} "
                                    "characters", where=w, got=f"got {len(v)} characters",
                                    fix="store large data as a tensor")
        elif v is None or isinstance(v, (bool, int, float)):
            pass
        else:
            raise NetTypeError("bundle metadata holds only dicts, lists, strings, numbers, "
                               "booleans and None", where=w,
                               got=f"got {type(v).__name__} {_short_repr(v)}",
                               fix="store tensors in the tensors dict, and convert other "
                                   "objects to plain data")


def _short_repr(v: Any, limit: int = 60) -> str:
    """``repr(v)``, cut to ``limit`` characters for an error message."""
    text = repr(v)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _prepare_tensors(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    storages: dict[int, str] = {}
    for key, t in tensors.items():
        if not isinstance(key, str) or not key or key == "__metadata__" or len(key) > 4096:
            raise NetValueError("tensor names are non-empty strings (not \"__metadata__\") of "
                                "at most 4096 characters", where="write_bundle",
                                got=f"got {_short_repr(key)}")
        if not isinstance(t, torch.Tensor):
            raise NetTypeError("bundle tensors must be torch tensors", where=f"tensor {key!r}",
                               got=f"got {type(t).__name__}")
        if t.layout != torch.strided:
            raise NetTypeError("bundle tensors must be dense", where=f"tensor {key!r}",
                               got=f"got layout {t.layout}", fix="call .to_dense() first")
        if t.dtype not in _DTYPE_NAMES:
            raise NetTypeError(f"bundle tensors have one of the dtypes {sorted(DTYPES)}",
                               where=f"tensor {key!r}", got=f"got {t.dtype}")
        t = t.detach().to("cpu").contiguous()
        if t.numel():
            ptr = t.untyped_storage().data_ptr()
            if ptr in storages:  # safetensors refuses tensors that share memory
                t = t.clone()
            else:
                storages[ptr] = key
        out[key] = t
    return out


def _digest(t: torch.Tensor) -> str:
    """SHA-256 of a CPU contiguous tensor's bytes (little-endian, as safetensors stores them)."""
    raw = t.reshape(-1).view(torch.uint8)
    return hashlib.sha256(raw.numpy().data).hexdigest()


def checked_path(path: Any, what: str, *, write: bool) -> str:
    """``path`` as a string, after checking it names a file that can be read (``write=False``)
    or written: the errors name the path and say what to do, instead of an OS error about a
    temporary file."""
    if not isinstance(path, (str, os.PathLike)) or isinstance(path, bytes):
        raise NetTypeError("a path is a string or a pathlib.Path", where=what,
                           got=f"got {type(path).__name__} {_short_repr(path, 60)}",
                           fix=f"{what}(..., \"model.netgrad\")" if what != "load" else
                           'netgrad.load("model.netgrad")')
    text = os.fspath(path)
    where = f"{what}, path {text!r}"
    if os.path.isdir(text):
        raise FileError("the path names a file, not a folder", where=where,
                        got="got an existing folder",
                        fix=f"name a file in it, e.g. os.path.join({text!r}, \"model.netgrad\")")
    if not write:
        if not os.path.exists(text):
            folder = os.path.dirname(os.path.abspath(text))
            near = sorted(n for n in os.listdir(folder) if n.endswith((".netgrad", ".safetensors"))
                          )[:5] if os.path.isdir(folder) else []
            raise MissingFileError("the file to load exists", where=where, got="got no such file",
                                   fix=f"files there: {near}" if near else
                                   "check the path (save writes it: netgrad.save(net, path))")
        return text
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        raise FileError("the folder of the file exists", where=where,
                        got=f"got no folder {folder!r}",
                        fix=f"create it first: os.makedirs({folder!r}, exist_ok=True)")
    if not os.access(folder, os.W_OK):
        raise FileError("the folder of the file can be written", where=where,
                        got=f"got a folder {folder!r} without write permission",
                        fix="save into a folder you can write")
    return text


def write_bundle(path: PathLike, meta: Mapping[str, Any],
                 tensors: Mapping[str, torch.Tensor]) -> None:
    """Write ``meta`` (JSON data) and ``tensors`` to ``path`` atomically.

    The file is written to a temporary file in the same folder, flushed and fsynced, then moved
    over ``path`` with :func:`os.replace`, so a reader (or a crash) sees the old file or the new
    one, never half of one.

    Args:
        path: the file to write (conventionally ``*.netgrad`` or ``*.safetensors``).
        meta: a dict of JSON data: dicts with string keys, lists (tuples come back as lists),
            strings, ints, floats (NaN and infinities allowed), booleans, None.
        tensors: name → dense tensor of a dtype in :data:`DTYPES`, any shape, any device (the
            values are copied to the CPU). ``requires_grad`` is not stored.
    """
    if not isinstance(meta, Mapping):
        raise NetTypeError("bundle metadata is a dict", where="write_bundle",
                           got=f"got {type(meta).__name__}")
    if not isinstance(tensors, Mapping):
        raise NetTypeError("bundle tensors are a dict of names to tensors", where="write_bundle",
                           got=f"got {type(tensors).__name__}")
    _check_json_value(meta, "meta", DEFAULT_LIMITS)
    prepared = _prepare_tensors(tensors)
    records = {k: {"dtype": _DTYPE_NAMES[t.dtype], "shape": list(t.shape), "sha256": _digest(t)}
               for k, t in prepared.items()}
    doc = {"format": FORMAT, "version": VERSION, "meta": meta, "arrays": records}
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    if len(text.encode("utf-8")) > DEFAULT_LIMITS.max_json_bytes:
        raise NetValueError(f"bundle metadata is at most {DEFAULT_LIMITS.max_json_bytes} bytes "
                            "of JSON", where="write_bundle",
                            got=f"got {len(text.encode('utf-8'))} bytes",
                            fix="store large data as tensors")

    from safetensors.torch import save_file

    path = checked_path(path, "write_bundle", write=True)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        save_file(prepared, tmp, metadata={_META_KEY: text})
        with open(tmp, "rb+") as f:
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: str) -> None:
    """Make the rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---- reading ------------------------------------------------------------------------------------

def _fail(path: str, rule: str, got: str | None = None, fix: str | None = None) -> LoadError:
    return LoadError(rule, where=f"netgrad file {path!r}", got=got,
                     fix=fix or "the file is corrupted or was not written by netgrad: load an intact copy, "
                                "or save the net again with netgrad.save")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k[:80]!r} in a JSON object")
        out[k] = v
    return out


def parse_json(text: str, path: str, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Parse a JSON document under ``limits`` (size, depth, string length); LoadError otherwise."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.max_json_bytes:
        raise _fail(path, f"the JSON document is at most {limits.max_json_bytes} bytes",
                    got=f"got {size} bytes")
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise _fail(path, f"the JSON document nests at most {limits.max_depth} levels",
                    got="got nesting too deep to parse") from None
    except ValueError as e:
        raise _fail(path, "the JSON document is not valid JSON", got=f"got: {e}",
                    fix="the file is corrupted; write it again") from None
    stack = [(doc, 1)]
    while stack:
        v, depth = stack.pop()
        if depth > limits.max_depth:
            raise _fail(path, f"the JSON document nests at most {limits.max_depth} levels",
                        got=f"got at least {depth} levels")
        if isinstance(v, dict):
            for k, item in v.items():
                if len(k) > limits.max_string:
                    raise _fail(path, f"JSON strings have at most {limits.max_string} characters",
                                got=f"got a key of {len(k)} characters")
                stack.append((item, depth + 1))
        elif isinstance(v, list):
            stack.extend((item, depth + 1) for item in v)
        elif isinstance(v, str) and len(v) > limits.max_string:
            raise _fail(path, f"JSON strings have at most {limits.max_string} characters",
                        got=f"got a string of {len(v)} characters")
    return doc


def _check_record(path: str, key: str, rec: Any) -> tuple[str, tuple[int, ...], str]:
    where = f"the record of tensor {key[:80]!r}"
    if not isinstance(rec, dict) or set(rec) != {"dtype", "shape", "sha256"}:
        raise _fail(path, f'{where} is {{"dtype", "shape", "sha256"}}',
                    got=f"got {_short_repr(rec)}")
    dtype, shape, digest = rec["dtype"], rec["shape"], rec["sha256"]
    if dtype not in DTYPES:
        raise _fail(path, f"{where}: the dtype is one of {sorted(DTYPES)}",
                    got=f"got {_short_repr(dtype)}")
    if not isinstance(shape, list) or len(shape) > 64 or not all(
            isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**63 for d in shape):
        raise _fail(path, f"{where}: the shape is a list of at most 64 non-negative ints",
                    got=f"got {_short_repr(shape)}")
    if not isinstance(digest, str) or len(digest) != 64 or \
            any(c not in "0123456789abcdef" for c in digest):
        raise _fail(path, f"{where}: sha256 is 64 lowercase hex digits",
                    got=f"got {_short_repr(digest)}")
    return dtype, tuple(shape), digest


def read_bundle(path: PathLike, *, limits: Limits = DEFAULT_LIMITS
                ) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read a bundle written by :func:`write_bundle`: ``(meta, tensors)``.

    Every check happens before a tensor is returned: the file's framing (a truncated or
    extended file is refused), the JSON document (size, nesting, string lengths, duplicate
    keys), each tensor against its record (dtype, shape, SHA-256 of its bytes), and that the
    records and the stored tensors name the same set of tensors. Anything wrong raises
    :class:`netgrad.LoadError`; a missing file raises :class:`FileNotFoundError`.

    Returns:
        ``meta``: the JSON document given to :func:`write_bundle`; ``tensors``: name → CPU
        tensor (``requires_grad=False``).
    """
    from safetensors import SafetensorError, safe_open

    path = checked_path(path, "read_bundle", write=False)
    shown = os.path.basename(path)
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(_N_LEN + 1)
    if size < _N_LEN + 2:  # the shortest header is "{}"
        raise _fail(shown, "a netgrad file starts with an 8-byte header length and a JSON header",
                    got=f"got a file of {size} bytes", fix="the file is truncated or not a "
                    "netgrad file")
    n = int.from_bytes(head[:_N_LEN], "little")
    if n > _SAFETENSORS_MAX_HEADER or _N_LEN + n > size or head[_N_LEN:_N_LEN + 1] != b"{":
        raise _fail(shown, "a netgrad file starts with an 8-byte header length and a JSON header "
                    "that fits in the file", got=f"got a header length of {n} in a file of "
                    f"{size} bytes", fix="the file is truncated, corrupted, or not a netgrad "
                    "file (netgrad files are safetensors files)")
    try:
        with safe_open(path, framework="pt") as st:
            raw_meta = st.metadata() or {}
            text = raw_meta.get(_META_KEY)
            if not isinstance(text, str) or set(raw_meta) != {_META_KEY}:
                raise _fail(shown, 'a netgrad file has exactly one metadata entry, "netgrad"',
                            got=f"got metadata keys {sorted(raw_meta)[:10]}",
                            fix="this is a safetensors file that netgrad did not write; load "
                                "it with safetensors and set the arrays yourself")
            doc = parse_json(text, shown, limits)
            if not isinstance(doc, dict) or doc.get("format") != FORMAT:
                raise _fail(shown, f'the JSON document has "format": "{FORMAT}"',
                            got=f"got {_short_repr(doc.get('format') if isinstance(doc, dict) else doc)}")
            version = doc.get("version")
            if not isinstance(version, int) or isinstance(version, bool) or version != VERSION:
                raise _fail(shown, f"this netgrad reads format version {VERSION}",
                            got=f"got version {_short_repr(version)}",
                            fix="load it with the netgrad version that wrote it" if
                            isinstance(version, int) and version > VERSION else None)
            if set(doc) != {"format", "version", "meta", "arrays"}:
                raise _fail(shown, 'the JSON document has the keys "format", "version", "meta" '
                            'and "arrays"', got=f"got {sorted(doc)[:10]}")
            meta, records = doc["meta"], doc["arrays"]
            if not isinstance(meta, dict) or not isinstance(records, dict):
                raise _fail(shown, '"meta" and "arrays" are JSON objects',
                            got=f"got {type(meta).__name__} and {type(records).__name__}")
            keys = set(st.keys())
            extra = sorted(keys - set(records))
            missing = sorted(set(records) - keys)
            if extra:
                raise _fail(shown, "every stored tensor has a record",
                            got=f"got {len(extra)} stored tensors without one, e.g. "
                                f"{extra[0][:80]!r}", fix="the file is corrupted")
            if missing:
                raise _fail(shown, "every recorded tensor is stored",
                            got=f"got {len(missing)} missing, e.g. {missing[0][:80]!r}",
                            fix="the file is corrupted or truncated")
            tensors: dict[str, torch.Tensor] = {}
            for key in sorted(keys):
                dtype, shape, digest = _check_record(shown, key, records[key])
                sl = st.get_slice(key)
                if sl.get_dtype() != _ST_DTYPES[dtype] or tuple(sl.get_shape()) != shape:
                    raise _fail(shown, f"tensor {key[:80]!r} is stored as its record says, "
                                f"{dtype} of shape {list(shape)}",
                                got=f"got {sl.get_dtype()} of shape {sl.get_shape()}",
                                fix="the file is corrupted")
                t = st.get_tensor(key)
                if t.dtype != DTYPES[dtype] or _digest(t) != digest:
                    raise _fail(shown, f"tensor {key[:80]!r} has the checksum recorded for it",
                                got="got different bytes", fix="the file is corrupted")
                tensors[key] = t
    except SafetensorError as e:
        raise _fail(shown, "the file is a valid safetensors file", got=f"got: {e}",
                    fix="the file is truncated or corrupted") from None
    return meta, tensors
