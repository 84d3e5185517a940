"""Which loss is minimized: Wolfram's rules for attaching a loss to a net.

* ``loss=None``: a net with an output port named ``"Loss"`` is minimized through it; otherwise a
  loss layer is attached to each output, in a NetGraph around the net: CrossEntropyLossLayer
  after a SoftmaxLayer (``"Index"`` targets when the targets are class indices,
  ``"Probabilities"`` when they have the output's shape), MeanSquaredLossLayer otherwise.
* ``loss="Loss"`` (or a list of names): output ports of a net that computes its own loss.
* ``loss=LossLayer`` or ``{output port: LossLayer}``: attached to those outputs.

The training net's ports: the net's inputs, plus ``"Target"`` (one loss layer) or
``"<port>Target"`` (several); its loss outputs are listed in :attr:`TrainingNet.loss_ports`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .._errors import NetKeyError, NetTypeError, NetValueError
from ..layers import CrossEntropyLossLayer, Layer, MeanSquaredLossLayer, SoftmaxLayer
from ..net._graph import NetGraph, NetPort
from .._module import NetModule
from ._options import WHERE
from ._sequences import ragged

__all__ = ["TrainingNet", "attach_loss", "ends_in_softmax"]


@dataclass
class TrainingNet:
    """The net that is differentiated: ``module`` (the user's net copy, or a NetGraph around
    it), the output ports that are summed into the loss, and the data port of each target."""

    module: NetModule
    loss_ports: tuple[str, ...]
    target_ports: dict[str, str]  # graph target port → output port of the net it belongs to
    description: str
    # output port of the net → (graph output port carrying it, target port, target kind,
    # number of classes): what measurements compare; kind is "index", "probabilities",
    # "binary" or "regression"
    measured: dict[str, tuple[str, str, str, int | None]] = field(default_factory=dict)


def ends_in_softmax(net: NetModule, port: str) -> bool:
    """Whether output ``port`` of ``net`` is produced by a SoftmaxLayer (through nested nets)."""
    if isinstance(net, SoftmaxLayer):
        return True
    if isinstance(net, NetGraph):
        src = net.output_source(port)
        if src is None or src[0] is None:
            return False
        return ends_in_softmax(net.vertices[src[0]], src[1])
    return False


def _is_loss_layer(obj: Any) -> bool:
    return isinstance(obj, NetModule) and set(obj.input_names()) >= {"Input", "Target"} \
        and len(obj.output_names()) == 1


def _auto_loss(net: NetModule, port: str, target_sample: Any) -> Layer:
    if not ends_in_softmax(net, port):
        return MeanSquaredLossLayer()
    out_shape = net.port_shape(port)
    if isinstance(target_sample, list) and ragged(target_sample):
        target_sample = None  # sequences of targets of different lengths: class indices
    if target_sample is not None and out_shape is not None:
        t = np.asarray(target_sample) if not isinstance(target_sample, torch.Tensor) \
            else target_sample.detach().cpu().numpy()
        # A batch of targets with the output's per-example shape: probabilities.
        if t.shape[1:] == tuple(out_shape) and t.dtype.kind == "f" and t.ndim > 0:
            return CrossEntropyLossLayer("Probabilities")
    return CrossEntropyLossLayer("Index")


def attach_loss(net: NetModule, loss: Any, target_sample: Any = None,
                expose_outputs: bool = False) -> TrainingNet:
    """Build the training net for ``net`` and the ``loss`` option (see the module doc).

    ``target_sample`` (a batch of targets, when known) decides between index and probability
    targets for an automatic cross-entropy loss. ``expose_outputs`` also makes the net's outputs
    that have a loss outputs of the training net (for measurements).
    """
    where = f"{WHERE}, loss"
    outputs = list(net.output_names())
    if loss is None and "Loss" in outputs:
        loss = "Loss"
    if isinstance(loss, str) or (isinstance(loss, (list, tuple)) and loss
                                 and all(isinstance(x, str) for x in loss)):
        names = [loss] if isinstance(loss, str) else list(loss)
        for n in names:
            if n not in outputs:
                raise NetKeyError(f"the loss names an output port of the net, and {n!r} is not one",
                                  where=where, got=f"got {n!r}; the net's outputs are {outputs}",
                                  fix="name an output port that computes a loss, or pass a loss "
                                      "layer, e.g. loss=MeanSquaredLossLayer()")
        return TrainingNet(net, tuple(names), {}, f"the net's own output{'s' if len(names) > 1 else ''} "
                           + ", ".join(repr(n) for n in names))
    if loss is None:
        layers = {p: _auto_loss(net, p, target_sample) for p in outputs}
    elif _is_loss_layer(loss):
        if len(outputs) != 1:
            raise NetValueError("a single loss layer needs a net with one output port",
                                where=where, got=f"got a net with outputs {outputs}",
                                fix="pass {output port: loss layer}, e.g. "
                                    f"loss={{{outputs[0]!r}: MeanSquaredLossLayer()}}")
        layers = {outputs[0]: loss}
    elif isinstance(loss, Mapping):
        layers = {}
        for p, layer in loss.items():
            if p not in outputs:
                raise NetKeyError(f"the net has no output port {p!r}", where=where,
                                  got=f"got {p!r}", fix=f"its outputs are {outputs}")
            if not _is_loss_layer(layer):
                raise NetTypeError("each loss is a loss layer (ports Input and Target)",
                                   where=f"{where}, {p!r}", got=f"got {type(layer).__name__}",
                                   fix="e.g. MeanSquaredLossLayer() or CrossEntropyLossLayer()")
            layers[p] = layer
    else:
        raise NetTypeError("loss is None (automatic), a loss layer, a dict of output ports to "
                           "loss layers, or the name of an output port of the net",
                           where=where, got=f"got {type(loss).__name__} {loss!r}",
                           fix='e.g. loss=MeanSquaredLossLayer(), or loss="Loss"')

    clash = [p for p in net.input_names() if p == "Target" or p.endswith("Target")]
    if clash:
        raise NetValueError("the net has an input port whose name the attached loss needs",
                            where=where, got=f"got the input port {clash[0]!r}",
                            fix="rename that port, or compute the loss inside the net and pass "
                                "loss=\"<its output port>\"")
    vertices: dict[str, Any] = {"net": net}
    edges: list[Any] = []
    targets: dict[str, str] = {}
    single = len(layers) == 1
    for port, layer in layers.items():
        v = "loss" if single else f"loss_{port}"
        t = "Target" if single else f"{port}Target"
        vertices[v] = layer
        edges.append((NetPort("net", port), NetPort(v, "Input")))
        edges.append((NetPort(t), NetPort(v, "Target")))
        edges.append((NetPort(v, layer.output_names()[0]),
                      NetPort("Loss" if single else f"{port}Loss")))
        targets[t] = port
    measured: dict[str, tuple[str, str, str, int | None]] = {}
    for t, port in targets.items():
        layer = layers[port]
        if isinstance(layer, CrossEntropyLossLayer):
            kind = {"Index": "index", "Probabilities": "probabilities"}.get(layer.target, "binary")
        else:
            kind = "regression"
        shape = net.port_shape(port)
        classes = int(shape[-1]) if kind in ("index", "probabilities") and shape else None
        exposed = port if port not in ("Loss",) and not port.endswith("Loss") else f"net{port}"
        if expose_outputs:
            edges.append((NetPort("net", port), NetPort(exposed)))
        measured[port] = (exposed, t, kind, classes)
    graph = NetGraph(vertices, edges)
    desc = ", ".join(f"{type(layer).__name__}"
                     + (f'("{layer.target}")' if isinstance(layer, CrossEntropyLossLayer) else "")
                     + f" on {p!r}" for p, layer in layers.items())
    loss_ports = ("Loss",) if single else tuple(f"{p}Loss" for p in layers)
    return TrainingNet(graph, loss_ports, targets, desc, measured)
