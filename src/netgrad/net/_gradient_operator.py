"""NetPortGradientLayer: the gradient of a net's output with respect to its input, as a port.

``net(x, NetPortGradient("Input"))`` returns a gradient; ``NetPortGradientLayer(net, "Input")``
makes it an output port of a net, so it can be wired into a NetGraph, enter a loss (a
physics-informed residual, a gradient penalty, Sobolev training) and be trained by
``netgrad.train``: the gradient is computed with its graph (``create_graph``), so the loss's
gradient reaches the inner net's arrays through it. Nest it for higher derivatives::

    du = NetPortGradientLayer(u, "Input")                           # Output, Gradient
    d2u = NetPortGradientLayer(du, "Input", output="Gradient",     # Output, Gradient, Curvature
                               name="Curvature")

The ops inside keep the gradient contract at every order (strong zeros, kinks, removable
singularities), so these derivatives are finite where the mathematics is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from .._errors import NetKeyError, NetValueError
from .._shapes import ShapeLike
from ._operators import Operator, _register

__all__ = ["NetPortGradientLayer"]


@_register
class NetPortGradientLayer(Operator):
    """A net's outputs and, as one more output port, the gradient of one of them with respect
    to one of its inputs.

    Args:
        net: a layer or net (its arrays are this layer's arrays: path ``("Net", ...)``).
        input: the input port differentiated against (a real, not an integer, port).
        output: the output port differentiated (default: the net's first output). As with
            ``NetPortGradient``, the gradient is that of the sum of the port's elements, per
            example.
        name: the new port's name (default ``"Gradient"``).
        **ports: declared shapes of the input ports, e.g. ``Input=1``.

    Shape:
        - inputs and the net's outputs: those of ``net``.
        - ``name``: the shape of ``input``, per example.

    The gradient is taken with ``torch.autograd.grad`` inside the forward pass (with its graph
    while grad mode is on, also under ``torch.no_grad`` callers get a value), so it needs eager
    autograd: not inside ``torch.func`` transforms or ``torch.compile``.
    """

    def __init__(self, net: Any, input: str = "Input", *, output: str | None = None,
                 name: str = "Gradient", **ports: ShapeLike) -> None:
        super().__init__({"Net": net})
        kind = type(self).__name__
        inner = self._net("Net")
        if not isinstance(input, str) or input not in inner.input_names():
            raise NetKeyError(f"the net has no input port {input!r}", where=kind,
                              got=f"got {input!r}",
                              fix=f"its input ports are {list(inner.input_names())}")
        if input in inner.integer_ports():
            raise NetValueError(f'port "{input}" takes integers (class indices), which have no '
                                "gradient", where=kind, got=f"got input={input!r}",
                                fix="differentiate with respect to a real-valued input port")
        outs = inner.output_names()
        if output is None:
            output = outs[0]
        if output not in outs:
            raise NetKeyError(f"the net has no output port {output!r}", where=kind,
                              got=f"got output={output!r}", fix=f"its output ports are {list(outs)}")
        if not isinstance(name, str) or not name or name in outs or name in inner.input_names():
            raise NetValueError("the gradient port needs a name of its own", where=kind,
                                got=f"got name={name!r}; the net's ports are "
                                    f"{list(inner.input_names()) + list(outs)}",
                                fix=f'e.g. name="{output}Gradient"')
        self.wrt, self.of, self.port_name = input, output, name
        self._setup(**ports)

    def input_names(self) -> tuple[str, ...]:
        return self._net("Net").input_names()

    def output_names(self) -> tuple[str, ...]:
        return tuple(self._net("Net").output_names()) + (self.port_name,)

    def integer_ports(self) -> frozenset[str]:
        return self._net("Net").integer_ports()

    def complete_inputs(self, shapes):
        inner = self._net("Net")
        return {p: (s if s is not None else inner.declared_shape(p)) for p, s in shapes.items()}

    def _infer(self, shapes, commit):
        outs = dict(self._inner("Net", shapes, commit))
        outs[self.port_name] = shapes.get(self.wrt)
        return outs

    def forward(self, *args: torch.Tensor, lengths: Mapping[str, torch.Tensor] | None = None,
                **kwargs: torch.Tensor) -> dict[str, torch.Tensor]:
        """Batched tensors by port → the net's outputs and the gradient, batched."""
        if lengths:
            raise NetValueError("NetPortGradientLayer does not take sequences (lengths)",
                                where=type(self).__name__, got=f"got lengths for {list(lengths)}",
                                fix="differentiate a net of fixed-shape ports")
        inputs = dict(zip(self.input_names(), args), **kwargs)
        graph = torch.is_grad_enabled()
        with torch.enable_grad():
            x = inputs[self.wrt]
            if not x.requires_grad:  # nothing upstream to keep: a fresh leaf to differentiate
                x = x.detach().requires_grad_(True)
            inputs[self.wrt] = x
            outs = self._net("Net").run_ports(inputs)
            y = outs[self.of]
            g = None
            if y.requires_grad:
                (g,) = torch.autograd.grad(y, x, torch.ones_like(y), create_graph=graph,
                                           allow_unused=True)
            if g is None:
                g = torch.zeros_like(x)
        result = dict(outs)
        result[self.port_name] = g
        if not graph:
            result = {p: t.detach() for p, t in result.items()}
        return result

    def get_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"input": self.wrt, "output": self.of, "name": self.port_name}
        cfg.update({p: list(s) for p, s in self._declared.items() if s is not None})
        return cfg
