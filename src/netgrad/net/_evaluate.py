"""Wolfram-style evaluation: ``net(data)`` and ``net(data, NetPortGradient(...))``.

* ``data``: an array-like for a net with one input port, or a dict of port names to data. A
  dict may also map ``NetPortGradient("Output")`` to an imposed output gradient.
* Data whose rank is one more than the port's declared shape is a batch; a port whose shape is
  not known takes the data as one example.
* Lists and NumPy in, NumPy out (a Python float for a scalar of one example); torch tensors in,
  torch tensors out, with autograd flowing through when no gradient is asked for.
* ``precision="float32"`` or ``"float64"``; by default float32, except that torch float64
  tensors in are evaluated (and returned) in float64; ``mode="Test"`` (default: dropout off) or
  ``"Train"``.
* ``create_graph=True``: NetPortGradient results carry their graph (to any order), for inputs,
  arrays and imposed output gradients; the default when the input tensors (or an imposed
  output gradient) require grad.

An evaluation is decided once, as an :class:`~netgrad.net._record.EvaluationRecord`
(:func:`~netgrad.net._record.build_record`), then run (:func:`run`) and presented. After the
forward pass and after the gradients, the run calls the non-finite checker that
:mod:`netgrad.debug` registers (:func:`register_nonfinite_checker`): this module does not import
the diagnostics.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import torch

from .._module import NetModule, register_evaluator
from .._sequences import SequenceBatch
from ..gradient import NetPortGradient
from ._data import to_tensor
from ._record import EvaluationRecord, build_record

__all__ = ["evaluate", "run", "gradients", "register_nonfinite_checker", "NonFiniteChecker"]

# Kept for the trainer, which converts its data the same way.
_to_tensor = to_tensor


class NonFiniteChecker(Protocol):
    """What evaluation calls after the forward pass and after the gradients."""

    def check_forward(self, record: EvaluationRecord,
                      outputs: Mapping[str, torch.Tensor]) -> None: ...

    def check_backward(self, record: EvaluationRecord,
                       grads: Mapping[NetPortGradient, torch.Tensor]) -> None: ...


_checker: NonFiniteChecker | None = None


def register_nonfinite_checker(checker: NonFiniteChecker | None) -> None:
    """Set the checker every evaluation calls (``netgrad.debug`` registers its provenance)."""
    global _checker
    _checker = checker


def evaluate(net: NetModule, data: Any, spec: Any = None, *, precision: Any = None,
             mode: str = "Test", create_graph: bool | None = None) -> Any:
    """Evaluate ``net`` on ``data``; with ``spec``, return gradients instead (see module doc).

    ``create_graph=True`` (the default when an input tensor or an imposed output gradient
    requires grad): the gradients carry their graph, so they can be differentiated again or
    used in a loss (a gradient penalty, a physics-informed residual)."""
    record = build_record(net, data, spec, precision=precision, mode=mode,
                          create_graph=create_graph)
    outputs, grads = run(record)
    return present(record, outputs, grads)


def run(record: EvaluationRecord, *, check: bool = True
        ) -> tuple[dict[str, torch.Tensor], dict[NetPortGradient, torch.Tensor]]:
    """Run the record: ``(outputs, gradients)``, batched, checked for non-finite values."""
    checker = _checker if check else None
    with record.running(), torch.set_grad_enabled(torch.is_grad_enabled() or bool(record.targets)):
        outputs = record.forward()
        if checker is not None:
            checker.check_forward(record, outputs)
        grads = gradients(record, outputs) if record.targets else {}
        if grads and checker is not None:
            checker.check_backward(record, grads)
    return outputs, grads


def gradients(record: EvaluationRecord, outputs: Mapping[str, torch.Tensor]
              ) -> dict[NetPortGradient, torch.Tensor]:
    """The requested gradients (inside :meth:`EvaluationRecord.running`)."""
    cot = record.cotangents(outputs)
    ys = [outputs[p] for p in cot if outputs[p].requires_grad]
    gs = [g for p, g in cot.items() if outputs[p].requires_grad]
    wrt = record.wrt()
    found = torch.autograd.grad(ys, wrt, gs, allow_unused=True,
                                create_graph=record.create_graph) if ys else [None] * len(wrt)
    return {spec: (g if g is not None else torch.zeros_like(w))
            for spec, g, w in zip(record.targets, found, wrt)}


def present(record: EvaluationRecord, outputs: Mapping[str, torch.Tensor],
            grads: Mapping[NetPortGradient, torch.Tensor]) -> Any:
    """Results as the user asked for them (see the module doc)."""
    detach = bool(record.targets) and not record.create_graph

    def one(t: torch.Tensor) -> Any:
        if record.torch_out:
            return t.detach() if detach else t
        a = t.detach().cpu().numpy()
        return float(a) if a.ndim == 0 else a

    def convert(t: torch.Tensor, per_example: bool, lengths: torch.Tensor | None = None,
                form: str | None = None) -> Any:
        if lengths is not None:
            return _sequences(t, lengths, form, one)
        if per_example and not record.batch:
            t = t[0]
        return one(t)

    def output(port: str) -> Any:
        return convert(outputs[port], True, record.output_lengths.get(port),
                       record.sequence_form())

    def gradient(spec: NetPortGradient) -> Any:
        target = record.targets[spec]
        if target.kind != "input":
            return convert(grads[spec], False)
        return convert(grads[spec], True, record.lengths.get(target.port),
                       record.sequence_forms.get(target.port))

    items = record.request.items
    if items is None:
        if len(outputs) == 1:
            result = output(next(iter(outputs)))
        else:
            result = {p: output(p) for p in outputs}
    else:
        keyed = {}
        for it in items:
            keyed[it] = output(it) if isinstance(it, str) else gradient(it)
        result = keyed if record.request.keyed else keyed[items[0]]
    return result if record.coders is None else record.coders.decode(result)


def _sequences(t: torch.Tensor, lengths: torch.Tensor, form: str | None, one) -> Any:
    """A padded batch of sequences back in the form the user gave the inputs: one sequence, a
    list of sequences (each cut to its length), a SequenceBatch, or the padded array itself."""
    if form == "one":
        return one(t[0, :int(lengths[0])])
    if form == "batch":
        return SequenceBatch(one(t), lengths.cpu())
    if form == "array" and bool((lengths == t.shape[1]).all()):
        return one(t)
    return [one(t[i, :n]) for i, n in enumerate(lengths.tolist())]


register_evaluator(evaluate)
