"""The evaluation record: what one Wolfram-style evaluation decided, built once.

:func:`build_record` turns ``net(data, spec, precision=..., mode=...)`` into an
:class:`EvaluationRecord`; :func:`netgrad.net._evaluate.evaluate` runs it, and everything that
needs to know how the net was evaluated reads the same record instead of working it out again:
the non-finite check and its provenance re-runs (:mod:`netgrad.debug._provenance`),
:func:`netgrad.check_gradients` (which perturbs the record's own tensors) and
:func:`netgrad.debug.locate_nonfinite` (:func:`batch_record`). So there is one request
normalizer (:func:`normalize_request`), one conversion of data (:mod:`._data`) and one path by
which arrays are evaluated in another precision (:meth:`EvaluationRecord.arrays_in_use`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from .._errors import NetKeyError, NetTypeError, NetValueError, ShapeError, did_you_mean
from .._module import NetModule
from .._precision import evaluating_in
from .._sequences import mask_padding, pad_batch, ragged_shape, sequence_tensor
from .._shapes import describe_shape, fmt_shape, has_varying
from ..encoders._attach import prepare_request
from ..gradient import All, NetPortGradient, Target, all_gradient_specs, resolve_gradient
from ._data import batched, parse_precision, split_data, to_tensor

__all__ = ["EvaluationRecord", "Request", "build_record", "batch_record", "normalize_request",
           "cast_arrays", "MODES"]

#: Evaluation modes: "Test" (dropout off, the default) and "Train".
MODES = ("Test", "Train")


@dataclass(frozen=True)
class Request:
    """What an evaluation returns: ``items`` (output port names and NetPortGradients; None for
    every output) and whether the result is a dict keyed by them (``keyed``)."""

    items: list[Any] | None
    keyed: bool

    @property
    def gradients(self) -> list[NetPortGradient]:
        return [it for it in (self.items or []) if isinstance(it, NetPortGradient)]


@dataclass
class EvaluationRecord:
    """One evaluation of a net, as decided before it runs.

    Attributes:
        net: the net or layer evaluated (never modified by the evaluation).
        tensors: input port → batched tensor ``(batch, *port shape)`` as the net sees it: on the
            net's device, in ``dtype`` (class-index ports: int64). Inputs that a gradient is
            asked for are leaves that require grad.
        batch: False when the user gave one example (a batch dimension of 1 was added; results
            and reported indices drop it again).
        dtype: the precision evaluated in.
        arrays: qualified parameter name → the tensor evaluated in its place: copies cast to
            ``dtype`` (leaves, with the array's requires_grad) when the net's arrays are in
            another precision (or ``copy_arrays`` was asked for); empty when the net's own
            arrays are used. See :meth:`arrays_in_use`.
        targets: NetPortGradient → what it names (:class:`netgrad.gradient.Target`), in request
            order.
        output_grads: output port → imposed cotangent, batched, in ``dtype``; empty means ones
            at every floating output (the gradient of the sum of the outputs).
        rng_state: ``torch.get_rng_state()`` from before a random (Train-mode) evaluation, so a
            re-run draws the same dropout masks; None in Test mode.
        mode: "Test" or "Train".
        request: what to return.
        torch_out: the user gave torch tensors, so results are tensors (else NumPy).
        coders: for a net with encoders or decoders, the request as the encoders left it
            (:class:`netgrad.encoders._attach.CodedRequest`): the user's raw values went
            through the input encoders before ``tensors`` were made (before the batch
            decision), a decoder property became its output port, and ``present`` decodes the
            results through it. Provenance re-runs start from the encoded ``tensors``, so they
            need nothing more. None for a net without coders.
        lengths: for sequence ports (a ``Varying`` first dimension): input port → int64
            ``(batch,)``, the valid length of each example; ``tensors`` holds them padded to
            ``(batch, max_length, ...)``. Read by the run (:meth:`forward`) and by ``present``.
        sequence_forms: sequence input port → how the user gave it ("one", "list", "batch" for
            a SequenceBatch, "array" for equal lengths), so results come back the same way.
        output_lengths: sequence output port → lengths, filled by :meth:`forward` (the one
            field that is a result of the run).
        imposed_lengths: sequence output port → the lengths of an imposed gradient given per
            sequence (checked against :attr:`output_lengths`).
        create_graph: the gradients carry their own graph (to any order): they are taken with
            ``create_graph=True`` and returned undetached; input tensors keep their graph (an
            input a gradient is asked for becomes a leaf only if it did not require grad), and
            arrays cast to another precision stay connected to the net's arrays. Set by
            ``create_graph=True`` or, by default, when an input tensor or an imposed output
            gradient requires grad.
    """

    net: NetModule
    tensors: dict[str, torch.Tensor]
    batch: bool
    dtype: torch.dtype
    arrays: dict[str, torch.Tensor] = field(default_factory=dict)
    targets: dict[NetPortGradient, Target] = field(default_factory=dict)
    output_grads: dict[str, torch.Tensor] = field(default_factory=dict)
    rng_state: torch.Tensor | None = None
    mode: str = "Test"
    request: Request = field(default_factory=lambda: Request(None, False))
    torch_out: bool = False
    coders: Any = None
    lengths: dict[str, torch.Tensor] = field(default_factory=dict)
    sequence_forms: dict[str, str] = field(default_factory=dict)
    output_lengths: dict[str, torch.Tensor] = field(default_factory=dict)
    imposed_lengths: dict[str, torch.Tensor] = field(default_factory=dict)
    create_graph: bool = False
    _swapped: bool = field(default=False, repr=False)

    def forward(self) -> dict[str, torch.Tensor]:
        """The net's outputs on :attr:`tensors` (inside :meth:`running`), by output port. With sequence inputs
        the lengths go through the net, sequence outputs get their padding set to 0 (gradient 0
        there) and their lengths recorded in :attr:`output_lengths`."""
        names = self.net.output_names()  # not the optional ports (a recurrent layer's State)
        if not self.lengths:
            outputs = self.net.run_ports(self.tensors)
            return {p: outputs[p] for p in names}
        outputs, out_lengths = self.net.run_sequences(self.tensors, self.lengths)
        self.output_lengths = {p: n for p, n in out_lengths.items() if p in names}
        return {p: (mask_padding(outputs[p], out_lengths[p]) if p in out_lengths else outputs[p])
                for p in names}

    def sequence_form(self) -> str | None:
        """How the sequence inputs were given (the first sequence port's form), or None."""
        return next(iter(self.sequence_forms.values()), None)

    @contextlib.contextmanager
    def arrays_in_use(self) -> Iterator[None]:
        """Within the block the net's arrays read as :attr:`arrays` (re-entrant; the net's own
        arrays are untouched)."""
        if not self.arrays or self._swapped:
            yield
            return
        self._swapped = True
        try:
            with torch.nn.utils.stateless._reparametrize_module(self.net, self.arrays,
                                                              tie_weights=True):
                yield
        finally:
            self._swapped = False

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """The net in this record's mode, with its arrays in use; training flags restored after."""
        modules = list(self.net.modules())
        flags = [m.training for m in modules]
        self.net.train(self.mode == "Train")
        try:
            with self.arrays_in_use(), evaluating_in(self.dtype):
                yield
        finally:
            for m, t in zip(modules, flags):
                m.training = t

    @contextlib.contextmanager
    def replaying(self) -> Iterator[None]:
        """Draw the same random numbers as the evaluation did (dropout masks), leaving the
        caller's random state as it was."""
        if self.rng_state is None:
            yield
            return
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(self.rng_state)
            yield

    def wrt(self) -> list[torch.Tensor]:
        """The tensors the targets name, in order (inside :meth:`arrays_in_use`: the cast arrays)."""
        return [self.tensors[t.port] if t.kind == "input" else getattr(t.layer, t.name)
                for t in self.targets.values()]

    def cotangents(self, outputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Output port → the cotangent a gradient flows from: the imposed gradient (broadcast
        to the output) or ones; floating outputs only, and with imposed gradients only those."""
        kind = type(self.net).__name__
        out = {}
        for port, y in outputs.items():
            if not y.is_floating_point():
                continue
            if port in self.output_grads:
                g = self.output_grads[port].to(device=y.device, dtype=y.dtype)
                if port in self.output_lengths:
                    g = self._sequence_cotangent(port, g, y)
                if g.shape != y.shape:
                    try:
                        g = g.expand(y.shape)
                    except RuntimeError:
                        per = " per example" if self.batch else ""
                        raise ShapeError(f'the imposed gradient must have the shape of output '
                                         f'"{port}", {describe_shape(tuple(y.shape[1:]))}{per}',
                                         where=f'{kind}, NetPortGradient("{port}")',
                                         got=f"got {fmt_shape(tuple(g.shape[1:]))}",
                                         fix=f"impose an array of shape "
                                             f"{fmt_shape(tuple(y.shape[1:]))} (or one that "
                                             "broadcasts to it)") from None
            elif self.output_grads:
                continue  # outputs not listed get gradient 0
            else:
                g = torch.ones_like(y)
                if port in self.output_lengths:
                    g = mask_padding(g, self.output_lengths[port])
            out[port] = g
        return out

    def _sequence_cotangent(self, port: str, g: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """An imposed gradient at a sequence output, padded like the output and checked against
        its lengths (the imposed lengths were recorded as ``imposed_lengths``)."""
        kind = type(self.net).__name__
        want = self.output_lengths[port]
        given = self.imposed_lengths.get(port)
        if given is not None and not torch.equal(given.to(want.device), want):
            raise ShapeError(f'the imposed gradient at sequence output "{port}" needs one '
                             "array per sequence, of the output's lengths",
                             where=f'{kind}, NetPortGradient("{port}")',
                             got=f"got lengths {given.tolist()}; the outputs have lengths "
                                 f"{want.tolist()}")
        t = y.shape[1]
        if g.shape[1] < t:
            g = torch.cat([g, g.new_zeros(g.shape[0], t - g.shape[1], *g.shape[2:])], 1)
        return mask_padding(g[:, :t], want)


def cast_arrays(net: NetModule, dtype: torch.dtype, *, copy: bool = False,
                keep_graph: bool = False) -> dict[str, torch.Tensor]:
    """The one dtype-cast path: ``{qualified name: leaf in dtype}`` when an array of ``net`` is
    in another dtype (or ``copy``), else ``{}`` (the net's own arrays are used). With
    ``keep_graph`` the casts stay connected to the arrays (gradients of gradients reach them)."""
    params = dict(net.named_parameters())
    if not copy and all(p.dtype == dtype for p in params.values()):
        return {}
    if keep_graph:
        return {n: p.to(dtype, copy=True) for n, p in params.items()}
    return {n: p.detach().to(dtype, copy=True).requires_grad_(p.requires_grad)
            for n, p in params.items()}


def normalize_request(net: NetModule, spec: Any, *, names_are_gradients: bool = False) -> Request:
    """``spec`` of ``net(data, spec)`` → a :class:`Request`, checking every item.

    ``spec`` is None (the outputs), an output port name, a NetPortGradient, ``All``, or a list
    of these. With ``names_are_gradients`` (check_gradients), names and path tuples mean
    NetPortGradients.
    """
    kind = type(net).__name__
    if spec is None:
        return Request(None, False)
    if spec is All or (isinstance(spec, NetPortGradient) and spec.spec is All):
        return Request(list(all_gradient_specs(net)), True)
    if names_are_gradients and isinstance(spec, tuple) and spec and isinstance(spec[-1], str) \
            and all(isinstance(s, (str, int)) and not isinstance(s, bool) for s in spec):
        spec = NetPortGradient(spec)  # a path tuple, not a list of specs
    if isinstance(spec, (list, tuple)):
        items, keyed = list(spec), True
    else:
        items, keyed = [spec], False
    if names_are_gradients:
        items = [it if isinstance(it, NetPortGradient) else NetPortGradient(it) for it in items]
    for item in items:
        if isinstance(item, str):
            if item not in net.output_names():
                raise NetKeyError(f"{kind} has no output port {item!r}", where=kind,
                                  got=f"got {item!r}",
                                  fix=f"output ports are {list(net.output_names())}; for a "
                                      f'gradient use NetPortGradient("{item}")')
        elif not isinstance(item, NetPortGradient):
            raise NetTypeError("ask for an output port name or a NetPortGradient",
                               where=kind, got=f"got {type(item).__name__} {item!r}",
                               fix=f'e.g. net(x, NetPortGradient("{net.input_names()[0]}"))')
    return Request(items, keyed)


def _check_mode(mode: Any, where: str) -> str:
    if mode not in MODES:
        raise NetValueError('mode is "Test" or "Train"', where=where, got=f"got {mode!r}",
                            fix='mode="Train" runs dropout as in training; "Test" (the default) '
                                "does not")
    return str(mode)


def build_record(net: NetModule, data: Any, spec: Any = None, *, precision: Any = None,
                 mode: str = "Test", copy_arrays: bool = False,
                 names_are_gradients: bool = False,
                 create_graph: bool | None = None) -> EvaluationRecord:
    """The record of ``net(data, spec, precision=precision, mode=mode,
    create_graph=create_graph)``; raises the user's errors (ports, shapes, dtypes,
    uninitialized arrays, unknown specs) before anything runs. ``create_graph=None``: True when
    an input tensor or an imposed output gradient requires grad."""
    kind = type(net).__name__
    mode = _check_mode(mode, kind)
    coders = None
    if net.encoders() or net.decoders():
        coders = prepare_request(net, data, spec, properties=not names_are_gradients)
        data, spec = coders.data, coders.spec
    raw_inputs, raw_imposed = split_data(net, data)
    dtype = parse_precision(precision, kind, raw_inputs.values())
    device = net._device_dtype()[0]
    ints = net.integer_ports()
    tensors, lengths, forms, shapes = {}, {}, {}, {}
    for p, v in raw_inputs.items():
        where = f'{kind}, port "{p}"'
        shape = net.port_shape(p)
        if shape is None:
            shape = ragged_shape(v)
        if shape is not None and has_varying(shape):
            tensors[p], lengths[p], forms[p] = sequence_tensor(v, shape, dtype, device, where,
                                                               p in ints)
            shapes[p] = (shape[0],) + tuple(tensors[p].shape[2:])
        else:
            tensors[p] = to_tensor(v, dtype, device, where, p in ints)
    batch = batched(net, tensors, forms)
    if not batch:
        tensors = {p: (t if p in forms else t.unsqueeze(0)) for p, t in tensors.items()}
    if any(net.port_shape(p) is None for p in tensors):
        net.infer({p: shapes.get(p, tuple(t.shape[1:])) for p, t in tensors.items()})
    net.check_initialized()
    request = normalize_request(net, spec, names_are_gradients=names_are_gradients)
    targets = {it: resolve_gradient(net, it) for it in request.gradients}
    if create_graph is None:
        create_graph = any(isinstance(v, torch.Tensor) and v.requires_grad
                           for v in list(raw_inputs.values()) + list(raw_imposed.values()))
    if not isinstance(create_graph, bool):
        raise NetTypeError("create_graph is True or False", where=kind,
                           got=f"got {type(create_graph).__name__} {create_graph!r}",
                           fix="create_graph=True keeps the gradients' graph; leave it out to "
                               "keep it exactly when an input tensor requires grad")
    if targets:
        inputs_wanted = {t.port for t in targets.values() if t.kind == "input"}
        if create_graph:  # keep every graph; a wanted input becomes a leaf only if it has none
            tensors = {p: (t.detach().requires_grad_(True)
                           if p in inputs_wanted and not t.requires_grad else t)
                       for p, t in tensors.items()}
        else:
            tensors = {p: t.detach().requires_grad_(p in inputs_wanted)
                       for p, t in tensors.items()}
    output_grads, imposed_lengths = {}, {}
    for port, g in raw_imposed.items():
        where = f'{kind}, imposed gradient at "{port}"'
        shape = net.port_shape(port)
        if has_varying(shape) and lengths:
            value = g if batch else [g]
            output_grads[port], imposed_lengths[port] = pad_batch(value, shape, dtype, device,
                                                                  where)
            continue
        t = to_tensor(g, dtype, device, where, False)
        output_grads[port] = t if batch else t.unsqueeze(0)
    return EvaluationRecord(
        net=net, tensors=tensors, batch=batch, dtype=dtype,
        arrays=cast_arrays(net, dtype, copy=copy_arrays, keep_graph=create_graph and bool(targets)),
        targets=targets, create_graph=create_graph and bool(targets),
        output_grads=output_grads, rng_state=torch.get_rng_state() if mode == "Train" else None,
        mode=mode, request=request, torch_out=any(_is_torch(v, p in forms) for p, v in raw_inputs.items()),
        coders=coders, lengths=lengths, sequence_forms=forms, imposed_lengths=imposed_lengths)


def _is_torch(value: Any, sequences: bool) -> bool:
    """Whether the user gave torch tensors (so results are tensors): a tensor, or for a
    sequence port a SequenceBatch of one or a list of them."""
    if isinstance(value, torch.Tensor):
        return True
    if not sequences:
        return False
    if getattr(value, "is_torch", False):
        return True
    return isinstance(value, (list, tuple)) and bool(value) and \
        all(isinstance(v, torch.Tensor) for v in value)


def batch_record(net: NetModule, inputs: Mapping[str, Any],
                 output_grads: Mapping[str, Any] | None = None, *, wrt: list[Any] | None = None,
                 precision: Any = None, rng_state: torch.Tensor | None = None,
                 lengths: Mapping[str, torch.Tensor] | None = None) -> EvaluationRecord:
    """The record of a batch given as tensors (what a training step saw), for
    :func:`netgrad.debug.locate_nonfinite`: ``inputs`` are batched, the dtype is
    ``precision`` or the inputs' own, the net keeps the mode it is in.

    ``wrt`` (NetPortGradient or specs) defaults to every real input and learned array;
    ``lengths`` are those of sequence ports given padded.
    """
    kind = type(net).__name__
    if not isinstance(inputs, Mapping):
        raise NetTypeError("locate_nonfinite takes a dict of input port → batched tensor",
                           where="locate_nonfinite", got=f"got {type(inputs).__name__}",
                           fix="locate_nonfinite(net, {" + ", ".join(
                               f'"{p}": ...' for p in net.input_names()) + "})")
    names = net.input_names()
    unknown = [p for p in inputs if p not in names]
    missing = [p for p in names if p not in inputs]
    if unknown or missing:
        raise NetKeyError(f"{kind} has input ports {list(names)}", where=kind,
                          got=f"got ports {list(inputs)}",
                          fix=did_you_mean(unknown[0], names) if unknown
                          else f"give all of {list(names)}")
    device = net._device_dtype()[0]
    tensors = {p: torch.as_tensor(t, device=device) for p, t in inputs.items()}
    dtype = parse_precision(precision, "locate_nonfinite") if precision is not None else next(
        (t.dtype for t in tensors.values() if t.is_floating_point()),
        net._device_dtype()[1] or torch.get_default_dtype())
    tensors = {p: (t.to(dtype) if t.is_floating_point() else t) for p, t in tensors.items()}
    specs = all_gradient_specs(net) if wrt is None else \
        [s if isinstance(s, NetPortGradient) else NetPortGradient(s) for s in wrt]
    grads = {p: torch.as_tensor(g, device=device) for p, g in (output_grads or {}).items()}
    return EvaluationRecord(
        net=net, tensors=tensors, batch=True, dtype=dtype, arrays=cast_arrays(net, dtype),
        targets={s: resolve_gradient(net, s) for s in specs}, output_grads=grads,
        rng_state=rng_state, mode="Train" if net.training else "Test",
        request=Request(list(specs), True), torch_out=True,
        lengths={p: torch.as_tensor(n, dtype=torch.long) for p, n in (lengths or {}).items()})
