"""Recurrent layers: LongShortTermMemoryLayer, GatedRecurrentLayer, BasicRecurrentLayer.

Wolfram's ports and arrays. Each takes a sequence of k-vectors ("Input", ``(Varying, k)`` or
``(T, k)``) and returns the sequence of states ("Output", ``(Varying, n)``). The initial state
is 0 unless a NetGraph connects the optional input port "State" (and "CellState" for the LSTM);
the final state (at each sequence's own end: no update past it) is the optional output port of
the same name. Each array is a gate's own matrix, e.g. LSTM "ForgetGateInputWeights" (n × k),
"ForgetGateStateWeights" (n × n), "ForgetGateBiases" (n); the recurrences are in
:mod:`netgrad.ops` (``lstm``, ``gru``, ``rnn_tanh``, on torch's fused kernels where that is the
robust result).

Dropout (only when training, ``mode="Train"``), Wolfram's forms:

* ``dropout=p``: ``{"VariationalInput": p, "VariationalState": p}``;
* ``{"VariationalInput": p}``: one mask per sequence on the input vectors, the same at every step;
* ``{"VariationalState": p}``: one mask per sequence on the state entering the state weights;
* ``{"VariationalWeights": p}``: one mask on each state-weight matrix (DropConnect);
* ``{"StateUpdate": p}``: one mask per sequence on the candidate state (Semeniuta et al.).
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

import torch

from .. import ops
from .._errors import NetTypeError, NetValueError, ShapeError
from .._shapes import MaybeShape, ShapeLike, describe_shape
from ._base import Layer, register_layer

__all__ = ["LongShortTermMemoryLayer", "GatedRecurrentLayer", "BasicRecurrentLayer"]

_DROPOUT_KINDS = ("VariationalInput", "VariationalState", "VariationalWeights", "StateUpdate")


def _parse_dropout(dropout: Any, kind: str) -> dict[str, float]:
    if dropout is None:
        return {}
    if isinstance(dropout, (int, float)) and not isinstance(dropout, bool):
        dropout = {"VariationalInput": dropout, "VariationalState": dropout}
    if not isinstance(dropout, Mapping):
        raise NetTypeError("dropout is a probability or a dict of dropout kinds to probabilities",
                           where=kind, got=f"got {type(dropout).__name__} {dropout!r}",
                           fix=f"e.g. dropout=0.2 or dropout={{\"VariationalState\": 0.2}}; kinds "
                               f"are {list(_DROPOUT_KINDS)}")
    out = {}
    for name, p in dropout.items():
        if name not in _DROPOUT_KINDS:
            close = [k for k in _DROPOUT_KINDS if k.lower() == str(name).lower()]
            raise NetValueError("unknown dropout kind", where=kind, got=f"got {name!r}",
                                fix=f"did you mean {close[0]!r}?" if close
                                else f"kinds are {list(_DROPOUT_KINDS)}")
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
            raise NetValueError("a dropout probability lies in [0, 1)", where=kind,
                                got=f"got {name}={p!r}")
        if p > 0:
            out[name] = float(p)
    return out


def _keep(shape, p: float, like: torch.Tensor) -> torch.Tensor:
    """A dropout multiplier: 0 with probability p, else 1 / (1 - p)."""
    mask = torch.rand(shape, device=like.device) >= p
    return mask.to(like.dtype) / (1.0 - p)


class _Recurrent(Layer):
    """The shared part: ports, shapes, arrays per gate, dropout, and the call into ops."""

    input_ports = ("Input",)
    output_ports = ("Output",)
    sequence_support = "lengths"
    optional_input_ports: ClassVar[tuple[str, ...]] = ("State",)
    optional_output_ports: ClassVar[tuple[str, ...]] = ("State",)
    #: Wolfram gate names in the order torch stacks them (LSTM: i, f, g, o; GRU: r, z, n).
    gates: ClassVar[tuple[str, ...]] = ()
    op: ClassVar[str] = ""

    def __init__(self, n: int, *, dropout: Any = None, input: ShapeLike = None) -> None:
        super().__init__()
        kind = type(self).__name__
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise NetValueError(f"{kind}'s size n is a positive int", where=kind, got=f"got {n!r}")
        self.n = n
        self.dropout = _parse_dropout(dropout, kind)
        self._dropout_arg = dropout
        self._setup(Input=input)

    # ---- shapes and arrays ---------------------------------------------------------------
    def _input_size(self, shapes: Mapping[str, MaybeShape]) -> int | None:
        s = shapes.get("Input")
        if s is None:
            return None
        if len(s) != 2:
            raise ShapeError("expected a sequence of vectors, (Varying, k) or (T, k)",
                             where=f'{type(self).__name__}, port "Input"',
                             got=f"got {describe_shape(s)}",
                             fix="flatten each element first: NetMapOperator(FlattenLayer())")
        return s[1]

    def infer_outputs(self, shapes):
        self._input_size(shapes)
        for p in self.optional_input_ports:
            s = shapes.get(p)
            if s is not None and s != (self.n,):
                raise ShapeError(f"expected a vector of length {self.n} (the initial state)",
                                 where=f'{type(self).__name__}, port "{p}"',
                                 got=f"got {describe_shape(s)}")
        s = shapes.get("Input")
        out = {"Output": None if s is None else (s[0], self.n)}
        out.update({p: (self.n,) for p in self.optional_output_ports})
        return out

    def array_shapes_for(self, shapes):
        k = self._input_size(shapes)
        arrays: dict[str, MaybeShape] = {}
        for g in self.gates:
            arrays[f"{g}InputWeights"] = None if k is None else (self.n, k)
            arrays[f"{g}StateWeights"] = (self.n, self.n)
            arrays[f"{g}Biases"] = (self.n,)
        return arrays

    def _stacked(self) -> tuple[torch.Tensor, ...]:
        """The arrays in torch's layout: (W_ih, W_hh, b_ih, b_hh)."""
        missing = [f"{g}InputWeights" for g in self.gates if getattr(self, f"{g}InputWeights") is None]
        if missing:
            raise NetValueError(f"{type(self).__name__}'s input size is unknown, so it has no "
                                "weights yet", where=type(self).__name__,
                                fix=f'declare it: {type(self).__name__}({self.n}, input=("Varying", k))')
        w_ih = torch.cat([getattr(self, f"{g}InputWeights") for g in self.gates])
        w_hh = [getattr(self, f"{g}StateWeights") for g in self.gates]
        if self.training and "VariationalWeights" in self.dropout:
            p = self.dropout["VariationalWeights"]
            w_hh = [ops.mul(w, _keep(w.shape, p, w)) for w in w_hh]
        b_ih = torch.cat([getattr(self, f"{g}Biases") for g in self.gates])
        # Wolfram's gates have one bias each (for the GRU, outside r ⊙ (W_ms s)): b_hh = 0.
        return w_ih, torch.cat(w_hh), b_ih, None

    # ---- running -------------------------------------------------------------------------
    def _masks(self, x: torch.Tensor):
        """Dropout multipliers for this call: input, state, update (None when not training)."""
        if not self.training or not self.dropout:
            return None, None, None
        b = x.shape[0]
        d = self.dropout
        xk = _keep((b, 1, x.shape[2]), d["VariationalInput"], x) if "VariationalInput" in d else None
        sk = _keep((b, self.n), d["VariationalState"], x) if "VariationalState" in d else None
        uk = _keep((b, self.n), d["StateUpdate"], x) if "StateUpdate" in d else None
        return xk, sk, uk

    def _states(self, inputs: Mapping[str, torch.Tensor]) -> list:
        return [inputs.get(p) for p in self.optional_input_ports]

    def run_ports(self, inputs, lengths=None):
        if lengths:
            return self.run_sequences(inputs, lengths)[0]
        self.require_arrays()
        out = torch.nn.Module.__call__(self, inputs["Input"], *self._states(inputs))
        return dict(out)

    def run_sequences(self, inputs, lengths):
        n = lengths.get("Input")
        self.require_arrays()
        out = torch.nn.Module.__call__(self, inputs["Input"], *self._states(inputs), lengths=n)
        return dict(out), ({"Output": n} if n is not None else {})

    def get_config(self) -> dict[str, Any]:
        cfg = self._with_input({"n": self.n})
        if self._dropout_arg is not None:
            cfg["dropout"] = self._dropout_arg
        return cfg

    def config_text(self) -> str:
        extra = f", dropout={self._dropout_arg!r}" if self._dropout_arg is not None else ""
        return f"{type(self).__name__}({self.n}{extra})"


@register_layer
class LongShortTermMemoryLayer(_Recurrent):
    """An LSTM: for each element x_t of the input sequence, with state s and cell state c,

        i = σ(W_ix x_t + W_is s + b_i)   (input gate)       o = σ(W_ox x_t + W_os s + b_o)
        f = σ(W_fx x_t + W_fs s + b_f)   (forget gate)      m = tanh(W_mx x_t + W_ms s + b_m)
        c' = f c + i m,   s' = o tanh(c')                   (Output at t: s')

    Args:
        n: the size of the state (and of each output vector).
        dropout: see the module docstring.
        input: the input shape, ``("Varying", k)`` or ``(T, k)``.

    Shape:
        - Input ``(Varying, k)``; Output ``(Varying, n)``; optional State, CellState ``(n,)``.
        - Arrays ``{Input,Output,Forget,Memory}Gate{InputWeights (n, k), StateWeights (n, n),
          Biases (n,)}``. "ForgetGateBiases" start at 1 (a common choice that lets gradients
          flow through the cell state early in training), the other biases at 0.
    """

    gates = ("InputGate", "ForgetGate", "MemoryGate", "OutputGate")  # torch: i, f, g, o
    array_names = tuple(f"{g}{a}" for g in ("InputGate", "OutputGate", "ForgetGate", "MemoryGate")
                        for a in ("InputWeights", "StateWeights", "Biases"))
    optional_input_ports = ("State", "CellState")
    optional_output_ports = ("State", "CellState")

    def init_array(self, name, tensor, method, generator):
        if name == "ForgetGateBiases":
            tensor.fill_(1.0)
            return
        super().init_array(name, tensor, method, generator)

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None,
                cell_state: torch.Tensor | None = None, *,
                lengths: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``x`` ``(B, T, k)``, states ``(B, n)`` (None: 0), ``lengths`` ``(B,)`` (None: T) →
        ``{"Output": (B, T, n), "State": (B, n), "CellState": (B, n)}``."""
        xk, sk, uk = self._masks(x)
        if xk is not None:
            x = ops.mul(x, xk)
        out, s, c = ops.lstm(x, *self._stacked(), lengths=lengths, state=state,
                             cell_state=cell_state, state_keep=sk, update_keep=uk)
        return {"Output": out, "State": s, "CellState": c}


@register_layer
class GatedRecurrentLayer(_Recurrent):
    """A GRU (Wolfram's, which is torch's ``nn.GRU`` with b_hn = 0): for each x_t, with state s,

        i = σ(W_ix x_t + W_is s + b_i)   (input, or update, gate)
        r = σ(W_rx x_t + W_rs s + b_r)   (reset gate)
        m = tanh(W_mx x_t + r (W_ms s) + b_m),   s' = (1 - i) m + i s

    Args and shape: as :class:`LongShortTermMemoryLayer`, with gates Input, Reset, Memory and
    one optional "State" port.
    """

    gates = ("ResetGate", "InputGate", "MemoryGate")  # torch: r, z, n
    array_names = tuple(f"{g}{a}" for g in ("InputGate", "ResetGate", "MemoryGate")
                        for a in ("InputWeights", "StateWeights", "Biases"))

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None, *,
                lengths: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``x`` ``(B, T, k)``, state ``(B, n)`` → ``{"Output": (B, T, n), "State": (B, n)}``."""
        xk, sk, uk = self._masks(x)
        if xk is not None:
            x = ops.mul(x, xk)
        out, s = ops.gru(x, *self._stacked(), lengths=lengths, state=state, state_keep=sk,
                         update_keep=uk)
        return {"Output": out, "State": s}


@register_layer
class BasicRecurrentLayer(_Recurrent):
    """An Elman RNN: s' = tanh(W_x x_t + W_s s + b) for each element x_t.

    Args and shape: as :class:`LongShortTermMemoryLayer`, with arrays "InputWeights" (n, k),
    "StateWeights" (n, n), "Biases" (n,) and one optional "State" port. ``{"StateUpdate": p}``
    dropout does not apply (there is no candidate state).
    """

    gates = ("",)
    array_names = ("InputWeights", "StateWeights", "Biases")

    def __init__(self, n: int, *, dropout: Any = None, input: ShapeLike = None) -> None:
        super().__init__(n, dropout=dropout, input=input)
        if "StateUpdate" in self.dropout:
            raise NetValueError("BasicRecurrentLayer has no candidate state for StateUpdate dropout",
                                where="BasicRecurrentLayer", got=f"got dropout={dropout!r}",
                                fix=f"use the kinds {list(_DROPOUT_KINDS[:3])}")

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None, *,
                lengths: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``x`` ``(B, T, k)``, state ``(B, n)`` → ``{"Output": (B, T, n), "State": (B, n)}``."""
        xk, sk, _ = self._masks(x)
        if xk is not None:
            x = ops.mul(x, xk)
        out, s = ops.rnn_tanh(x, *self._stacked(), lengths=lengths, state=state, state_keep=sk)
        return {"Output": out, "State": s}
