"""Strings in: ``NetEncoder("Characters", ...)`` and ``NetEncoder("Tokens", ...)`` give index
sequences (int64 vectors, one index per character or token).

Without ``length=`` a string's sequence is as long as the string: the port's shape is
``(Varying,)`` (a sequence port), and a batch of texts of different lengths is a list of index
vectors that the net pads and masks. ``length=n`` pads (with the padding index) or truncates
every sequence to n: shape ``(n,)``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._errors import NetKeyError, NetTypeError, NetValueError
from .._shapes import Varying
from ._base import NetEncoder, short_repr, show_option

__all__ = ["CharactersEncoder", "TokensEncoder", "PRINTABLE"]

#: the default alphabet: the 95 printable ASCII characters, space to tilde
PRINTABLE = "".join(chr(c) for c in range(32, 127))


def _length(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise NetTypeError("length is None (as long as the text) or a positive int", where=where,
                           got=f"got {short_repr(value)}")
    return value


def _text_batch(value: Any) -> bool:
    return isinstance(value, (list, tuple)) or isinstance(value, np.ndarray) and value.ndim >= 1


def _check_text(value: Any, where: str) -> str:
    if isinstance(value, np.str_):
        value = str(value)
    if not isinstance(value, str):
        raise NetTypeError("a text encoder takes a string (or a list of strings: a batch)",
                           where=where, got=f"got {type(value).__name__} {short_repr(value)}")
    return value


class _Sequence(NetEncoder):
    integer = True
    padding_index = 0
    length: int | None = None

    def _shape(self) -> tuple[Any, ...]:
        """``(length,)``, or ``(Varying,)``: as long as each text."""
        return (Varying,) if self.length is None else (self.length,)

    def encode_batch(self, values: Sequence[Any]) -> Any:
        """Texts → one int64 array ``(n, length)``; without ``length``, texts of different
        lengths give a list of int64 vectors (a batch of sequences, padded by the net)."""
        if self.length is not None:
            return super().encode_batch(values)
        arrays = self.encode_each(values)
        if not arrays:
            return np.zeros((0, 0), dtype=np.int64)
        if len({a.shape for a in arrays}) == 1:
            return np.stack(arrays)
        return arrays

    def _fit(self, indices: list[int]) -> np.ndarray:
        if self.length is not None:
            indices = indices[:self.length] + [self.padding_index] * (self.length - len(indices))
        return np.asarray(indices, dtype=np.int64).reshape(-1)

    def is_batch(self, value: Any) -> bool:
        return _text_batch(value)


class CharactersEncoder(_Sequence):
    """``NetEncoder("Characters", characters=PRINTABLE, ignore_case=False, length=None)``.

    Args:
        characters: the alphabet (a string of distinct characters); character ``characters[i]``
            encodes as ``i``. The default is printable ASCII.
        ignore_case: lower-case the text (and the alphabet) first.
        length: pad or truncate to this many indices; padding is ``len(characters)``.

    A character outside the alphabet is an error naming it.

    Shape:
        - Output: ``(len(text),)`` int64 (port shape ``(Varying,)``), or ``(length,)``.
    """

    kind = "Characters"

    def __init__(self, kind: str = "Characters", characters: str = PRINTABLE, *,
                 ignore_case: bool = False, length: int | None = None) -> None:
        where = self.where
        if not isinstance(characters, str) or not characters:
            raise NetTypeError("characters is a non-empty string (the alphabet)", where=where,
                               got=f"got {short_repr(characters)}", fix='characters="abc"')
        if not isinstance(ignore_case, bool):
            raise NetTypeError("ignore_case is True or False", where=where,
                               got=f"got {short_repr(ignore_case)}")
        alphabet = characters.lower() if ignore_case else characters
        if len(set(alphabet)) != len(alphabet):
            dup = next(c for i, c in enumerate(alphabet) if c in alphabet[:i])
            raise NetValueError("the characters are distinct" + (" (ignoring case)" if ignore_case else ""),
                                where=where, got=f"got {dup!r} twice")
        self.characters = characters
        self.ignore_case = ignore_case
        self.length = _length(length, where)
        self._index = {c: i for i, c in enumerate(alphabet)}
        self.padding_index = len(alphabet)
        self.shape = self._shape()

    def get_config(self) -> dict[str, Any]:
        return {"characters": self.characters, "ignore_case": self.ignore_case,
                "length": self.length}

    def __repr__(self) -> str:
        chars = "" if self.characters == PRINTABLE else f", characters={show_option(self.characters)}"
        extra = "".join(f", {k}={v!r}" for k, v in (("ignore_case", self.ignore_case),
                                                   ("length", self.length)) if v)
        return f'NetEncoder("Characters"{chars}{extra})'

    @property
    def classes(self) -> int:
        """Number of distinct indices produced (the alphabet, plus padding with ``length``)."""
        return len(self._index) + (self.length is not None)

    def encode_one(self, value: Any) -> np.ndarray:
        text = _check_text(value, self.where)
        if self.ignore_case:
            text = text.lower()
        out = []
        for pos, c in enumerate(text):
            i = self._index.get(c)
            if i is None:
                raise NetKeyError("a character is in the encoder's alphabet", where=self.where,
                                  got=f"got {c!r} at position {pos} of {short_repr(value)}",
                                  fix="add it to characters=..., or clean the text first"
                                  + ("" if self.ignore_case or c.lower() not in self._index
                                     else " (or ignore_case=True)"))
            out.append(i)
        return self._fit(out)


class TokensEncoder(_Sequence):
    """``NetEncoder("Tokens", tokens, ignore_case=False, unknown=True, length=None)``.

    Args:
        tokens: the vocabulary (distinct strings); ``tokens[i]`` encodes as ``i``.
        ignore_case: lower-case the text and the vocabulary first.
        unknown: tokens not in the vocabulary encode as ``len(tokens)`` (True, as Wolfram's
            unknown token), or raise an error naming them (False).
        length: pad or truncate to this many indices; padding is the next index after the
            vocabulary (and the unknown token).

    Text is split into tokens at whitespace, punctuation standing alone (``"cat, dog."`` →
    ``["cat", ",", "dog", "."]``).

    Shape:
        - Output: ``(number of tokens,)`` int64 (port shape ``(Varying,)``), or ``(length,)``.
    """

    kind = "Tokens"
    _SPLIT = re.compile(r"\w+|[^\w\s]")

    def __init__(self, kind: str = "Tokens", tokens: Sequence[str] | None = None, *,
                 ignore_case: bool = False, unknown: bool = True,
                 length: int | None = None) -> None:
        where = self.where
        if isinstance(tokens, str) or not isinstance(tokens, Sequence) or not tokens or \
                not all(isinstance(t, str) and t for t in tokens):
            raise NetTypeError("tokens is a non-empty list of non-empty strings (the vocabulary)",
                               where=where, got=f"got {short_repr(tokens)}",
                               fix='NetEncoder("Tokens", ["the", "cat", "sat"])')
        for name, flag in (("ignore_case", ignore_case), ("unknown", unknown)):
            if not isinstance(flag, bool):
                raise NetTypeError(f"{name} is True or False", where=where,
                                   got=f"got {short_repr(flag)}")
        vocab = [t.lower() for t in tokens] if ignore_case else list(tokens)
        if len(set(vocab)) != len(vocab):
            dup = next(t for i, t in enumerate(vocab) if t in vocab[:i])
            raise NetValueError("the tokens are distinct", where=where, got=f"got {dup!r} twice")
        self.tokens = list(tokens)
        self.ignore_case = ignore_case
        self.unknown = unknown
        self.length = _length(length, where)
        self._index = {t: i for i, t in enumerate(vocab)}
        self.unknown_index = len(vocab) if unknown else None
        self.padding_index = len(vocab) + unknown
        self.shape = self._shape()

    def get_config(self) -> dict[str, Any]:
        return {"tokens": list(self.tokens), "ignore_case": self.ignore_case,
                "unknown": self.unknown, "length": self.length}

    @property
    def classes(self) -> int:
        """Number of distinct indices produced (vocabulary, unknown, padding)."""
        return self.padding_index + (self.length is not None)

    def split(self, text: str) -> list[str]:
        """The tokens of a text (after lower-casing, with ignore_case)."""
        return self._SPLIT.findall(text.lower() if self.ignore_case else text)

    def encode_one(self, value: Any) -> np.ndarray:
        text = _check_text(value, self.where)
        out = []
        for pos, tok in enumerate(self.split(text)):
            i = self._index.get(tok, self.unknown_index)
            if i is None:
                close = difflib.get_close_matches(tok, list(self._index), n=1)
                raise NetKeyError("a token is in the vocabulary (this encoder has unknown=False)",
                                  where=self.where, got=f"got {tok!r} (token {pos})",
                                  fix=f"did you mean {close[0]!r}?" if close
                                  else "add it to the tokens, or use unknown=True")
            out.append(i)
        return self._fit(out)
