"""AttentionLayer: each query's weighted sum of the values, weighted by softmax-normalized scores
of the query against the keys.

A query whose keys are all masked (padding, a causal mask, the "Mask" port) gets output 0 and
gradient 0, and never a NaN in any other row or gradient (``netgrad.ops.
scaled_dot_product_attention``, which runs torch's fused kernel when that is the robust result).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .. import ops
from .._errors import NetValueError, ShapeError
from .._sequences import common_lengths, positions_mask
from .._shapes import MaybeShape, ShapeLike, describe_shape, is_varying
from ._base import Layer, register_layer

__all__ = ["AttentionLayer"]

_SCORINGS = ("Dot", "Bilinear")
_MASKS = (None, "Causal")
_RESCALINGS = (None, "DimensionSqrt")


def _choice(value: Any, allowed: tuple, option: str, more: str = "") -> Any:
    if value not in allowed:
        close = [a for a in allowed if isinstance(a, str) and isinstance(value, str)
                 and a.lower() == value.lower()]
        raise NetValueError(f"AttentionLayer's {option} is one of {list(allowed)}{more}",
                            where="AttentionLayer", got=f"got {value!r}",
                            fix=f"did you mean {close[0]!r}?" if close
                            else f"pass {option}= one of {list(allowed)}{more}")
    return value


def _parse_mask(mask: Any) -> tuple[str | None, int | None]:
    """``None``, ``"Causal"`` or ``("Causal", n)`` (Wolfram's ``"Causal" -> n``) → (kind, window)."""
    if isinstance(mask, (tuple, list)):
        if len(mask) == 2 and mask[0] == "Causal" and isinstance(mask[1], int) \
                and not isinstance(mask[1], bool) and mask[1] >= 1:
            return "Causal", int(mask[1])
        raise NetValueError('AttentionLayer\'s local causal mask is ("Causal", n) with a window '
                            "n >= 1", where="AttentionLayer", got=f"got mask={mask!r}",
                            fix='e.g. mask=("Causal", 3): query i sees keys i-2, i-1, i')
    return _choice(mask, _MASKS, "mask", ' or ("Causal", n)'), None


def attention_mask(lq: int, lk: int, device: torch.device, key_lengths: torch.Tensor | None,
                   mask: torch.Tensor | None, kind: str | None, window: int | None
                   ) -> tuple[torch.Tensor | None, bool]:
    """The keys each query may see: a boolean ``(B or 1, 1, Lq, Lk)`` (None: all) from the
    key lengths, a Mask port array ``(B, Lq, Lk)`` (nonzero: allowed) and a causal kind (with an
    optional window), and whether torch's ``is_causal`` expresses the rest."""
    allowed = None
    if key_lengths is not None:
        allowed = positions_mask(key_lengths.to(device), lk)[:, None, None, :]
    if mask is not None:
        m = (mask != 0)[:, None]
        allowed = m if allowed is None else allowed & m
    causal = kind == "Causal"
    if causal and (allowed is not None or window is not None):
        band = torch.ones(lq, lk, dtype=torch.bool, device=device).tril()
        if window is not None:
            band = band & ~band.tril(-window)
        allowed = band if allowed is None else allowed & band
        causal = False
    return allowed, causal


#: The attention over a scoring net (``AttentionLayer(net)``), an operator since it holds a
#: net; ``netgrad.net`` registers it (layers sit below nets).
SCORED_ATTENTION: list[type] = []


@register_layer
class AttentionLayer(Layer):
    """Attention of queries over (key, value) pairs, with multiple heads and masks.

    For each query q: ``Output = Σ_j w_j v_j`` with ``w = softmax_j(score(q, k_j) · scale)``
    over the keys the query may see.

    Args:
        scoring: ``"Dot"``: score q·k (query and key sizes equal); ``"Bilinear"``: score
            kᵀ W q with the learned array "Weights" (key size × query size); a net with
            inputs "Input" (a key vector) and "Query" (a query vector) and a scalar output,
            e.g. additive attention (Wolfram's ``AttentionLayer[net]``; it gives an
            :class:`~netgrad.net.AttentionNetOperator`, which holds the net).
        heads: split the query, key and value vectors into this many equal parts and attend
            with each separately (multi-head attention); the outputs are concatenated.
        mask: ``None``; ``"Causal"``: query i sees keys 0…i (self-attention);
            ``("Causal", n)``: a local causal window, query i sees keys i-n+1…i.
        score_rescaling: ``"DimensionSqrt"`` (default): scale scores by 1/√(key size per head),
            the scaled dot product; ``None``: no scaling (Wolfram's default).
        dropout: dropout on the attention weights when training.
        mask_port: add an input port "Mask", a (query length × key length) array per example:
            nonzero where the query may see the key.
        key, value, query: the port shapes, ``("Varying", k)`` or ``(n, k)``; the query may
            also be a single vector ``(q,)``.

    Shape:
        - Key ``(Lk, dk)``, Value ``(Lk, dv)`` (the same length), Query ``(Lq, dq)`` or
          ``(dq,)``; Lk and Lq may be Varying. Mask ``(Lq, Lk)`` with a fixed Lk.
        - Output ``(Lq, dv)`` (or ``(dv,)`` for a single query).
        - Weights (Bilinear) ``(dk, dq)``.
    """

    input_ports = ("Key", "Value", "Query")
    output_ports = ("Output",)
    sequence_support = "lengths"

    def __new__(cls, scoring: Any = "Dot", *args: Any, **kwargs: Any) -> Any:
        if not isinstance(scoring, str) and SCORED_ATTENTION:
            return SCORED_ATTENTION[0](scoring, *args, **kwargs)
        return super().__new__(cls)

    def __init__(self, scoring: Any = "Dot", *, heads: int = 1, mask: Any = None,
                 score_rescaling: str | None = "DimensionSqrt", dropout: float = 0.0,
                 mask_port: bool = False, key: ShapeLike = None, value: ShapeLike = None,
                 query: ShapeLike = None) -> None:
        super().__init__()
        self.scoring = _choice(scoring, _SCORINGS, "scoring")
        if self.scoring == "Bilinear":
            self.array_names = ("Weights",)
            self.register_parameter("Weights", None)
            self._uninitialized.add("Weights")
        if isinstance(heads, bool) or not isinstance(heads, int) or heads < 1:
            raise NetValueError("AttentionLayer's heads is a positive int", where="AttentionLayer",
                                got=f"got {heads!r}")
        self.heads = heads
        self.mask, self.window = _parse_mask(mask)
        self.score_rescaling = _choice(score_rescaling, _RESCALINGS, "score_rescaling")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or \
                not 0.0 <= dropout < 1.0:
            raise NetValueError("AttentionLayer's dropout lies in [0, 1)", where="AttentionLayer",
                                got=f"got {dropout!r}")
        self.dropout = float(dropout)
        self.mask_port = bool(mask_port)
        if self.mask_port:
            self.input_ports = ("Key", "Value", "Query", "Mask")
        self._setup(Key=key, Value=value, Query=query)

    # ---- shapes --------------------------------------------------------------------------
    def _split(self, size: int, port: str) -> None:
        if size % self.heads:
            raise ShapeError(f"the vectors of port {port} must split into {self.heads} heads",
                             where=f'AttentionLayer, port "{port}"',
                             got=f"got vectors of size {size}",
                             fix=f"use a size divisible by {self.heads}, or heads that divide {size}")

    def infer_outputs(self, shapes):
        k, v, q = shapes["Key"], shapes["Value"], shapes["Query"]
        for port, s, ranks in (("Key", k, (2,)), ("Value", v, (2,)), ("Query", q, (1, 2))):
            if s is not None and len(s) not in ranks:
                raise ShapeError("expected a sequence of vectors, (Varying, d) or (n, d)"
                                 + (", or one vector (d,)" if port == "Query" else ""),
                                 where=f'AttentionLayer, port "{port}"', got=f"got {describe_shape(s)}")
            if s is not None:
                self._split(s[-1], port)
        if k is not None and v is not None and k[0] != v[0]:
            raise ShapeError("Key and Value must be sequences of the same length",
                             where='AttentionLayer, port "Value"',
                             got=f"got Key {describe_shape(k)} and Value {describe_shape(v)}")
        if self.scoring == "Dot" and k is not None and q is not None and k[-1] != q[-1]:
            raise ShapeError(f'"Dot" scoring needs queries of the key size {k[-1]}',
                             where='AttentionLayer, port "Query"', got=f"got {describe_shape(q)}",
                             fix='use scoring="Bilinear" (a learned map between the sizes)')
        if self.mask == "Causal" and q is not None and len(q) == 1:
            raise ShapeError('a "Causal" mask needs a sequence of queries',
                             where='AttentionLayer, port "Query"', got=f"got {describe_shape(q)}")
        if self.mask_port:
            m = shapes.get("Mask")
            if k is not None and is_varying(k[0]):
                raise ShapeError("the Mask port needs keys of a fixed length",
                                 where='AttentionLayer, port "Key"', got=f"got {describe_shape(k)}",
                                 fix="mask varying-length keys by their lengths (automatic)")
            if m is not None and q is not None and k is not None:
                want = (q[0] if len(q) == 2 else 1, k[0])
                if len(m) != 2 or (m[1] != want[1]) or (m[0] != want[0]):
                    raise ShapeError(f"expected a mask of shape (query length, {want[1]})",
                                     where='AttentionLayer, port "Mask"', got=f"got {describe_shape(m)}")
        if v is None or q is None:
            return {"Output": None}
        return {"Output": (q[0], v[-1]) if len(q) == 2 else (v[-1],)}

    def complete_inputs(self, shapes):
        shapes = self._merged_inputs(shapes)
        if self.mask_port and shapes.get("Mask") is None:
            q, k = shapes.get("Query"), shapes.get("Key")
            if q is not None and k is not None:
                shapes["Mask"] = (q[0] if len(q) == 2 else 1, k[0])
        return shapes

    def array_shapes_for(self, shapes):
        if self.scoring != "Bilinear":
            return {}
        k, q = shapes["Key"], shapes["Query"]
        return {"Weights": None if k is None or q is None else (k[-1], q[-1])}

    # ---- running -------------------------------------------------------------------------
    def run_sequences(self, inputs, lengths):
        key_lengths = {p: lengths[p] for p in ("Key", "Value") if p in lengths}
        kl = common_lengths(key_lengths, "AttentionLayer") if key_lengths else None
        ql = lengths.get("Query")
        self.require_arrays()
        args = [inputs[p] for p in self.input_names()]
        out = torch.nn.Module.__call__(self, *args, key_lengths=kl, query_lengths=ql)
        return {"Output": out}, ({"Output": ql} if ql is not None else {})

    def forward(self, key: torch.Tensor, value: torch.Tensor, query: torch.Tensor,
                mask: torch.Tensor | None = None, *, key_lengths: torch.Tensor | None = None,
                query_lengths: torch.Tensor | None = None) -> torch.Tensor:
        """key ``(B, Lk, dk)``, value ``(B, Lk, dv)``, query ``(B, Lq, dq)`` or ``(B, dq)``,
        mask ``(B, Lq, Lk)``, lengths ``(B,)`` (None: full) → ``(B, Lq, dv)`` or ``(B, dv)``."""
        single = query.dim() == 2
        if single:
            query = query.unsqueeze(1)
        if self.scoring == "Bilinear":
            if self.Weights is None:
                raise NetValueError("AttentionLayer's sizes are unknown, so it has no weights yet",
                                    where="AttentionLayer",
                                    fix="declare key= and query= shapes")
            query = ops.linear(query, self.Weights)
        b, lq, lk, h = query.shape[0], query.shape[1], key.shape[1], self.heads
        q = query.reshape(b, lq, h, -1).transpose(1, 2)
        k = key.reshape(b, lk, h, -1).transpose(1, 2)
        v = value.reshape(b, lk, h, -1).transpose(1, 2)
        scale = 1.0 / math.sqrt(k.shape[-1]) if self.score_rescaling == "DimensionSqrt" else 1.0
        allowed, causal = attention_mask(lq, lk, key.device, key_lengths, mask, self.mask,
                                         self.window)
        p = self.dropout if self.training else 0.0
        o = ops.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=p,
                                             is_causal=causal, scale=scale)
        o = o.transpose(1, 2).reshape(b, lq, -1)
        return o[:, 0] if single else o

    def get_config(self) -> dict[str, Any]:
        return {"scoring": self.scoring, **attention_config(self, "DimensionSqrt")}


def attention_config(layer: Any, default_rescaling: str | None) -> dict[str, Any]:
    """The options of an attention layer or operator that differ from their defaults (heads,
    mask and window, score rescaling, dropout, the Mask port, declared port shapes)."""
    cfg: dict[str, Any] = {}
    if layer.heads != 1:
        cfg["heads"] = layer.heads
    if layer.mask is not None:
        cfg["mask"] = layer.mask if layer.window is None else [layer.mask, layer.window]
    if layer.score_rescaling != default_rescaling:
        cfg["score_rescaling"] = layer.score_rescaling
    if layer.dropout:
        cfg["dropout"] = layer.dropout
    if layer.mask_port:
        cfg["mask_port"] = True
    for port in ("Key", "Value", "Query"):
        s = layer._declared.get(port)
        if s is not None:
            cfg[port.lower()] = list(s)
    return cfg
