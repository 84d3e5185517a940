"""Instrumented re-runs that find where a NaN or infinity first appeared.

The net's straight evaluation plan (``NetGraph.plan()``, nested nets flattened) is re-run layer by
layer, each layer on *detached* copies of its inputs, so that each layer's forward and backward
can be checked on its own:

* forward: the first layer whose output is non-finite; its inputs (bad data?) and arrays (a
  diverged weight?) are checked, else the layer itself made the value, and a second re-run of
  that layer alone under :class:`~netgrad.debug._primitive.FirstNonFinite` names the primitive;
* backward: the layers are walked in reverse, each one's vector-Jacobian product computed with
  ``torch.autograd.grad`` from the accumulated cotangents of its outputs. A gradient that is
  non-finite although the cotangent coming in is finite marks an origin; non-finite values are
  traced ("tainted") from origins to the gradients that were asked for, so the origin reported
  is the one that reached them.

Sequences (the record's ``lengths``) go through the re-run as through the evaluation, and a
value at a padding position (which never reaches a valid one) does not count as non-finite.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from ..gradient import NetPortGradient, Target
from ..layers import Layer
from ..net._graph import NetGraph
from .._sequences import positions_mask
from ..net._record import EvaluationRecord, batch_record
from ._finite import all_finite
from ._primitive import FirstNonFinite, describe_origin, node_function, pick
from ._report import NonFiniteReport, count_bad, fmt_index, fmt_value

__all__ = ["locate_nonfinite", "locate_forward", "locate_backward", "Call", "flatten"]

Key = tuple  # ("in", port) for a net input; (path, port) for a layer output


@dataclass
class Call:
    """One layer call of the flattened plan."""

    path: tuple[str, ...]
    layer: Any
    ins: dict[str, Key]
    outs: dict[str, Key] = field(default_factory=dict)
    lengths: dict[str, torch.Tensor] = field(default_factory=dict)  # of its sequence inputs, per run


def _run(call: Call, ins: Mapping[str, torch.Tensor], lengths: dict[Key, torch.Tensor]
         ) -> dict[str, torch.Tensor]:
    """One layer call of a re-run; sequence lengths are read from and recorded in ``lengths``."""
    call.lengths = {p: lengths[k] for p, k in call.ins.items() if k in lengths}
    if not call.lengths:
        return call.layer.run_ports(ins)
    outs, out_lengths = call.layer.run_sequences(ins, call.lengths)
    for p, n in out_lengths.items():
        lengths[call.outs[p]] = n
    return outs


def _rerun(call: Call, ins: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The layer call again, with the lengths of its last run."""
    lengths = getattr(call, "lengths", None)
    return call.layer.run_sequences(ins, lengths)[0] if lengths else call.layer.run_ports(ins)


def _valid(t: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """``t`` with its padding (past each sequence's length) set to 0, for checking."""
    if lengths is None or not t.is_floating_point():
        return t
    keep = positions_mask(lengths.to(t.device), t.shape[1])
    return torch.where(keep.reshape(*keep.shape, *([1] * (t.dim() - 2))), t, 0.0)


def flatten(net) -> tuple[list[Call], dict[str, Key]]:
    """The net's layer calls in evaluation order, and the key of each net output."""
    calls: list[Call] = []

    def walk(graph, in_keys: Mapping[str, Key], prefix: tuple[str, ...]) -> dict[str, Key]:
        if not isinstance(graph, NetGraph):
            call = Call(prefix, graph, dict(in_keys),
                        {p: (prefix, p) for p in graph.output_names()})
            calls.append(call)
            return call.outs
        produced: dict[tuple[str, str], Key] = {}

        def key(src) -> Key:
            v, p = src
            return in_keys[p] if v is None else produced[(v, p)]

        for v, layer, ports in graph.plan():
            outs = walk(layer, {p: key(src) for p, src in ports}, prefix + (v,))
            for p, k in outs.items():
                produced[(v, p)] = k
        return {p: key(graph.output_source(p)) for p in graph.output_names()}

    outputs = walk(net, {p: ("in", p) for p in net.input_names()}, ())
    return calls, outputs


def _arrays(layer) -> dict[str, torch.Tensor]:
    if not isinstance(layer, Layer):
        return {}
    out = {}
    for name in layer.array_names:
        t = getattr(layer, name, None)
        if isinstance(t, torch.Tensor) and t.is_floating_point():
            out[name] = t
    return out


def _finite(t: torch.Tensor | None) -> bool:
    return all_finite([t])


def _values_at(ins: Mapping[str, torch.Tensor], shape, index, batch: bool) -> dict[str, Any]:
    """Each input's value at ``index`` (if its shape fits the output's), else a short summary."""
    out: dict[str, Any] = {}
    for p, t in ins.items():
        if not isinstance(t, torch.Tensor):
            continue
        try:
            if index is not None and t.dim() <= len(shape):
                aligned = t.reshape(t.shape[:1] + (1,) * (len(shape) - t.dim()) + t.shape[1:]) \
                    if t.dim() < len(shape) else t
                out[p] = torch.broadcast_to(aligned, shape)[index].item()
                continue
        except (RuntimeError, IndexError):
            pass
        out[p] = _summary(t)
    return out


def _summary(t: torch.Tensor) -> str:
    if not t.is_floating_point():
        return f"integers of shape {tuple(t.shape)}"
    if t.numel() == 0:
        return "empty"
    bad = int((~torch.isfinite(t)).sum())
    if bad:
        return f"{bad} non-finite of {t.numel()}"
    return f"finite, largest |x| = {fmt_value(t.abs().max().item())}"


def _strip(index, batch: bool):
    if index is None or batch or not index:
        return index
    return index[1:]


def _layer_name(path: tuple[str, ...], layer_type: str) -> str:
    return f'{layer_type} "{path[-1]}"' if path else layer_type


def _bad_tensor_report(phase: str, net, t: torch.Tensor, batch: bool,
                       **fields) -> tuple[NonFiniteReport, tuple[int, ...] | None]:
    """A report on the bad values of ``t`` and their first index in ``t`` itself."""
    c = count_bad(t)
    idx = c.pop("index")
    value = t[idx].item() if idx is not None else float("nan")
    return NonFiniteReport(phase=phase, net_type=type(net).__name__, index=_strip(idx, batch),
                           value=value, **c, **fields), idx


# ---- forward -----------------------------------------------------------------------------------
def locate_forward(record: EvaluationRecord, *, seen_at: str = "") -> NonFiniteReport | None:
    """Re-run the record's net forward layer by layer on its inputs; the report of the first
    non-finite value, or None when every output is finite."""
    net, batch = record.net, record.batch
    calls, _ = flatten(net)
    vals: dict[Key, torch.Tensor] = {("in", p): t.detach() for p, t in record.tensors.items()}
    lengths: dict[Key, torch.Tensor] = {("in", p): n for p, n in record.lengths.items()}
    with record.arrays_in_use(), torch.no_grad():
        for call in calls:
            ins = {p: vals[k] for p, k in call.ins.items()}
            outs = _run(call, ins, lengths)
            for p, t in outs.items():
                vals[call.outs[p]] = t
            bad = [(p, _valid(t, lengths.get(call.outs[p]))) for p, t in outs.items()]
            bad = [(p, t) for p, t in bad if not _finite(t)]
            if not bad:
                continue
            port, t = bad[0]
            return _explain_forward(net, call, ins, port, t, call.ins, batch, seen_at)
    return None


def _explain_forward(net, call: Call, ins, port, t, in_keys, batch, seen_at) -> NonFiniteReport:
    kind = type(call.layer).__name__
    who = _layer_name(call.path, kind)
    # Bad data coming in?
    for p, x in ins.items():
        if not _finite(x) and in_keys[p][0] == "in":
            r, idx = _bad_tensor_report("forward", net, x, batch, port=in_keys[p][1],
                                        seen_at=seen_at)
            kinds = "NaN" if r.n_nan else "infinity"
            r.cause = (f"the input data contains {kinds}, at {in_keys[p][1]}{fmt_index(r.index)} = "
                       f"{fmt_value(r.value)}, which reaches {who}")
            return r
    # A learned array that is already bad?
    for name, a in _arrays(call.layer).items():
        if not _finite(a):
            c = count_bad(a.detach())
            idx = c.pop("index")
            return NonFiniteReport(phase="forward", net_type=type(net).__name__, path=call.path,
                                   layer_type=kind, array=name, index=idx, value=a[idx].item(),
                                   cause=f'array "{name}" of {who} holds non-finite values '
                                         "(training diverged, or it was set so)",
                                   seen_at=seen_at, **c)
    r, idx = _bad_tensor_report("forward", net, t, batch, path=call.path, layer_type=kind,
                                port=port, seen_at=seen_at)
    r.inputs = _values_at(ins, t.shape, idx, batch)
    # Which primitive made it: the layer alone, under the dispatch mode.
    mode = FirstNonFinite()
    with torch.no_grad(), mode:
        _rerun(call, ins)
    origin = pick(mode.origins, tuple(t.shape), idx)
    where = " at " + ", ".join(f"{p}{fmt_index(r.index)} = {fmt_value(v)}"
                               for p, v in r.inputs.items() if not isinstance(v, str)) \
        if any(not isinstance(v, str) for v in r.inputs.values()) else ""
    if origin is not None:
        phrase, r.true_infinity, _ = describe_origin(origin)
        r.primitive = f"aten.{origin.op}"
        r.cause = f"{phrase} in {who}{where}"
    else:
        r.cause = f"{who} returned {fmt_value(r.value)} from finite inputs{where}"
    if r.true_infinity:
        r.cause += ": a true infinity, which the gradient contract keeps (rule 7)"
    return r


# ---- backward ----------------------------------------------------------------------------------
@dataclass
class _Event:
    call: Call | None
    what: str            # port or array name
    is_array: bool
    grad: torch.Tensor
    ins: dict[str, torch.Tensor]
    gouts: dict[str, torch.Tensor]


def locate_backward(record: EvaluationRecord, *, wrt: list[Target] | None = None,
                    seen_at: str = "") -> NonFiniteReport | None:
    """Re-run forward and backward layer by layer; the report of the origin of the first
    non-finite gradient among ``wrt`` (default: the record's targets), or None when all are
    finite. The cotangents are the record's ``output_grads`` (default: ones, as NetPortGradient
    does)."""
    net, batch = record.net, record.batch
    calls, out_keys = flatten(net)
    if wrt is None:
        wrt = list(record.targets.values())
    with record.arrays_in_use(), torch.enable_grad():
        vals: dict[Key, torch.Tensor] = {("in", p): t.detach() for p, t in record.tensors.items()}
        lengths: dict[Key, torch.Tensor] = {("in", p): n for p, n in record.lengths.items()}
        local: list[tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]] = []
        for call in calls:
            ins = {p: (vals[k].detach().requires_grad_(True) if vals[k].is_floating_point()
                       else vals[k]) for p, k in call.ins.items()}
            outs = _run(call, ins, lengths)
            for p, y in outs.items():
                vals[call.outs[p]] = y
            local.append((ins, outs))
        # Output cotangents: imposed, else ones (as evaluation does).
        cot: dict[Key, torch.Tensor] = {}
        taint: dict[Key, _Event] = {}
        for port, g in record.cotangents({p: vals[k] for p, k in out_keys.items()}).items():
            k = out_keys[port]
            cot[k] = cot[k] + g if k in cot else g
            if not _finite(g):
                taint[k] = _Event(None, port, False, g, {}, {})
        array_grads: dict[tuple[int, str], tuple[torch.Tensor, _Event | None, Call]] = {}
        for call, (ins, outs) in zip(reversed(calls), reversed(local)):
            pairs = [(p, y, cot[call.outs[p]]) for p, y in outs.items()
                     if call.outs[p] in cot and y.requires_grad]
            if not pairs:
                continue
            incoming = next((taint[call.outs[p]] for p, _, _ in pairs if call.outs[p] in taint), None)
            arrays = {n: a for n, a in _arrays(call.layer).items() if a.requires_grad}
            targets = [(p, x, False) for p, x in ins.items() if isinstance(x, torch.Tensor)
                       and x.requires_grad] + [(n, a, True) for n, a in arrays.items()]
            if not targets:
                continue
            found = torch.autograd.grad([y for _, y, _ in pairs], [x for _, x, _ in targets],
                                        [g for _, _, g in pairs], allow_unused=True)
            gouts = {p: g for p, _, g in pairs}
            for (name, _, is_array), g in zip(targets, found):
                if g is None:
                    continue
                source = incoming
                if not _finite(g) and source is None:
                    source = _Event(call, name, is_array, g, ins, gouts)
                elif _finite(g):
                    source = None
                if is_array:
                    array_grads[(id(call.layer), name)] = (g, source, call)
                else:
                    k = call.ins[name]
                    cot[k] = cot[k] + g if k in cot else g
                    if not _finite(cot[k]) and k not in taint:
                        taint[k] = source if source is not None else \
                            _Event(call, name, False, cot[k], ins, gouts)
        # The asked-for gradients, in order: the first bad one names the origin.
        for t in wrt:
            if t.kind == "input":
                cot_in = cot.get(("in", t.port))
                if cot_in is None or _finite(cot_in):
                    continue
                g = cot_in
                event = taint.get(("in", t.port))
                spec = NetPortGradient(t.port)
            else:
                if (id(t.layer), t.name) not in array_grads:
                    continue
                g, event, _ = array_grads[(id(t.layer), t.name)]
                if _finite(g):
                    continue
                spec = NetPortGradient(t.path if len(t.path) > 1 else t.name)
            return _explain_backward(net, event, g, seen_at or repr(spec), batch)
    return None


def _explain_backward(net, event: _Event | None, final: torch.Tensor, seen_at: str,
                      batch: bool) -> NonFiniteReport:
    if event is None:  # bad only after adding up finite contributions: an overflowing sum
        r, _ = _bad_tensor_report("backward", net, final, batch, seen_at=seen_at)
        r.cause = "adding up the gradient's contributions overflowed"
        return r
    if event.call is None:
        r, _ = _bad_tensor_report("backward", net, event.grad, batch, port=event.what,
                                  seen_at=seen_at)
        r.cause = f'the imposed gradient at output "{event.what}" is non-finite'
        return r
    call = event.call
    kind = type(call.layer).__name__
    who = _layer_name(call.path, kind)
    g = event.grad
    per_example = not event.is_array
    r, idx = _bad_tensor_report("backward", net, g, batch or not per_example, path=call.path,
                                layer_type=kind, seen_at=seen_at,
                                **({"array": event.what} if event.is_array else {"port": event.what}))
    if per_example:
        r.inputs = _values_at(event.ins, g.shape, idx, batch)
        for p, go in event.gouts.items():
            shown = _values_at({p: go}, g.shape, idx, batch)[p]
            r.inputs[f"∂{p}"] = shown
    else:
        r.inputs = {p: _summary(x) for p, x in event.ins.items() if isinstance(x, torch.Tensor)}
    # Pinpoint the primitive: the layer's backward alone under the dispatch mode.
    origin = None
    try:
        with torch.enable_grad():
            ins = {p: (x.detach().requires_grad_(True) if x.is_floating_point() else x)
                   for p, x in event.ins.items()}
            outs = _rerun(call, ins)
            wrt = ins[event.what] if not event.is_array else _arrays(call.layer)[event.what]
            ys = [outs[p] for p in event.gouts]
            mode = FirstNonFinite()
            with mode:
                torch.autograd.grad(ys, [wrt], list(event.gouts.values()), allow_unused=True)
        origin = pick(mode.origins, tuple(g.shape), idx)
    except RuntimeError:
        origin = None
    where = ""
    numeric = {p: v for p, v in r.inputs.items() if not isinstance(v, str) and not p.startswith("∂")}
    if numeric:
        where = " at " + ", ".join(f"{p}{fmt_index(r.index)} = {fmt_value(v)}"
                                   for p, v in numeric.items())
    if origin is not None:
        phrase, r.true_infinity, _ = describe_origin(origin)
        fn = call.layer.function if isinstance(getattr(call.layer, "function", None), str) \
            else node_function(origin.node)
        fn = None if fn in ("elementwise", "unary", "function") else fn
        r.primitive = f"aten.{origin.op}" + (f" in {origin.node}" if origin.node else "")
        r.cause = f"{phrase} in the derivative" + (f" of {fn}" if fn else "") + f" in {who}{where}"
    else:
        r.cause = f"the derivative of {who} is {fmt_value(r.value)}{where}"
    if r.true_infinity:
        r.cause += ": a true infinity, which the gradient contract keeps (rule 7)"
    return r


# ---- the public entry point ----------------------------------------------------------------------
def locate_nonfinite(net, inputs: Mapping[str, Any], output_grads: Mapping[str, Any] | None = None,
                     *, wrt: list | None = None, precision: Any = None,
                     rng_state: torch.Tensor | None = None,
                     lengths: Mapping[str, torch.Tensor] | None = None) -> NonFiniteReport | None:
    """Find where a NaN or infinity first appears in a forward and backward pass of ``net``.

    For training loops (``netgrad.train``): after a step whose loss or gradients are non-finite,
    call this with the same batch to learn which layer diverged.

    Args:
        net: a NetChain, NetGraph or layer, in the mode (``net.train()``/``net.eval()``) the step
            used; it is not modified.
        inputs: port name → batched tensor ``(batch, *port_shape)`` (integer ports: class indices).
        output_grads: output port → cotangent, broadcastable to ``(batch, *output_shape)``; ports
            left out get 0. Default: every floating output gets ones (the gradient of the sum of
            the outputs, as for a loss).
        wrt: specs (:class:`netgrad.NetPortGradient`) whose gradients to check; default every
            learned array and every real input port.
        precision: ``"float32"``/``"float64"``/a dtype to evaluate in (default: the inputs').
        rng_state: a ``torch.get_rng_state()`` taken before the failing step, so that random
            layers (dropout) draw the same values again.
        lengths: for sequence ports given padded: port → ``(batch,)`` lengths (as the step's
            ``run_ports(batch, lengths=...)``).

    Returns:
        A :class:`NonFiniteReport` for the first non-finite value (the forward pass is checked
        first), or None when the outputs and the gradients are all finite.
    """
    record = batch_record(net, inputs, output_grads, wrt=wrt, precision=precision,
                          rng_state=rng_state, lengths=lengths)
    with record.replaying():
        report = locate_forward(record)
        if report is not None:
            return report
    with record.replaying():  # the same random draws again (dropout masks)
        return locate_backward(record)
