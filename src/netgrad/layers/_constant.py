"""Arrays as layers: ConstantArrayLayer, NetArrayLayer, RandomArrayLayer (no input), and
ConstantPlusLayer / ConstantTimesLayer (a learned array added to or multiplying the input).

A layer without inputs produces one array per example: inside a NetGraph its output has the
batch size of the graph's inputs (the array broadcast over the batch, so its gradient is the sum
over the batch, as for every array); evaluated on its own, ``layer({})``, it gives one example.
"""

from __future__ import annotations

from typing import Any

import torch

from .. import ops
from .._errors import NetValueError, ShapeError
from .._shapes import MaybeShape, ShapeLike, describe_shape, fmt_shape
from ._base import Layer, register_layer
from ._checks import add_dtype_buffer, float_dtype, real_number, shape_arg

__all__ = ["ConstantArrayLayer", "NetArrayLayer", "RandomArrayLayer", "ConstantPlusLayer",
           "ConstantTimesLayer"]


class _NoInput(Layer):
    """A layer with no input port: ``forward(batch=n)`` gives ``n`` examples."""

    input_ports = ()
    shape: tuple[int, ...] | None

    def run_batch(self, n: int) -> dict[str, torch.Tensor]:
        """The outputs for a batch of ``n`` examples (what a NetGraph calls; fires hooks)."""
        self.require_arrays()
        return {self.output_ports[0]: torch.nn.Module.__call__(self, batch=n)}

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        return {"Output": self.shape}

    def _array_shape(self, value: Any, shape: ShapeLike, where: str) -> tuple[Any, MaybeShape]:
        if value is not None:
            t = value.detach() if isinstance(value, torch.Tensor) else \
                torch.as_tensor(value, dtype=torch.get_default_dtype())
            want = shape_arg(shape, "shape", where)
            if shape is not None and tuple(t.shape) != want:
                raise ShapeError(f"the array must have the given shape {fmt_shape(want)}",
                                 where=where,
                                 got=f"got an array of shape {fmt_shape(tuple(t.shape))}",
                                 fix="give only the array, or a matching shape")
            return t, tuple(t.shape)
        if shape is None:
            raise NetValueError("the layer needs its array or its shape", where=where,
                                got="got neither", fix=f"{where}(shape=(2, 3)) or "
                                                       f"{where}(array=...)")
        return None, shape_arg(shape, "shape", where)

    def get_config(self) -> dict[str, Any]:
        return {"shape": list(self.shape or ())}


@register_layer
class ConstantArrayLayer(_NoInput):
    """Produces a fixed array (not learned), the same for every example.

    Args:
        array: the array (any array-like); or give only ``shape`` and set the values later
            (``set_array("Array", ...)``, as loading does).
        shape: the shape of the array (optional when ``array`` is given).

    Shape:
        - Output: the array's shape. Array: "Array" (``requires_grad`` False).
    """

    output_ports = ("Output",)
    array_names = ("Array",)
    Array: torch.Tensor | None

    def __init__(self, array: Any = None, *, shape: ShapeLike = None) -> None:
        super().__init__()
        values, self.shape = self._array_shape(array, shape, "ConstantArrayLayer")
        self._setup()
        if values is not None:
            self.set_array("Array", values)
        self.Array.requires_grad_(False)  # type: ignore[union-attr]

    def array_shapes_for(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        return {"Array": self.shape}

    def forward(self, batch: int = 1) -> torch.Tensor:
        a = self.Array
        return a.unsqueeze(0).expand(batch, *a.shape)  # type: ignore[union-attr]


@register_layer
class NetArrayLayer(_NoInput):
    """Produces a learned array (Wolfram's NetArrayLayer), the same for every example: a free
    parameter a net can use as an input (a learned embedding table, a learned query).

    Args:
        shape: the shape of the array.
        array: initial values (then ``shape`` is optional).

    The array "Array" starts uninitialized; NetInitialize gives it values like a weight (a
    vector or scalar starts at 0).

    Shape:
        - Output: ``shape``. Array: "Array" of ``shape``.
    """

    output_ports = ("Output",)
    array_names = ("Array",)
    Array: torch.Tensor | None

    def __init__(self, shape: ShapeLike = None, *, array: Any = None) -> None:
        super().__init__()
        values, self.shape = self._array_shape(array, shape, "NetArrayLayer")
        self._setup()
        if values is not None:
            self.set_array("Array", values)

    def array_shapes_for(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        return {"Array": self.shape}

    def forward(self, batch: int = 1) -> torch.Tensor:
        a = self.Array
        return a.unsqueeze(0).expand(batch, *a.shape)  # type: ignore[union-attr]


_DISTRIBUTIONS = ("Normal", "Uniform")


@register_layer
class RandomArrayLayer(_NoInput):
    """Produces a fresh random array for every example, in every mode (Wolfram's
    RandomArrayLayer): noise for a generator, a random latent vector.

    Args:
        shape: the shape of one example's array.
        distribution: ``"Normal"`` (``mean``, ``std``) or ``"Uniform"`` (``low``, ``high``).

    Values come from torch's global generator (``torch.manual_seed`` makes them
    reproducible). No gradient flows anywhere from it.

    Shape:
        - Output: ``shape``.
    """

    output_ports = ("Output",)

    def __init__(self, shape: ShapeLike, distribution: str = "Normal", *, mean: float = 0.0,
                 std: float = 1.0, low: float = 0.0, high: float = 1.0) -> None:
        super().__init__()
        where = "RandomArrayLayer"
        self.shape = shape_arg(shape, "shape", where)
        if distribution not in _DISTRIBUTIONS:
            raise NetValueError(f"distribution is one of {list(_DISTRIBUTIONS)}", where=where,
                                got=f"got {distribution!r}", fix='e.g. distribution="Uniform"')
        self.distribution = distribution
        self.mean = real_number(mean, "mean", where)
        self.std = real_number(std, "std", where, low=0.0)
        self.low = real_number(low, "low", where)
        self.high = real_number(high, "high", where)
        if self.high < self.low:
            raise NetValueError("low must not exceed high", where=where,
                                got=f"got low={low!r}, high={high!r}", fix="swap them")
        add_dtype_buffer(self)
        self._setup()

    def forward(self, batch: int = 1) -> torch.Tensor:
        shape = (batch, *(self.shape or ()))
        dtype, device = float_dtype(self), self._device_dtype()[0]
        if self.distribution == "Normal":
            return torch.randn(shape, dtype=dtype, device=device).mul_(self.std).add_(self.mean)
        return torch.rand(shape, dtype=dtype, device=device).mul_(self.high - self.low) \
            .add_(self.low)

    def get_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"shape": list(self.shape or ()), "distribution": self.distribution}
        if self.distribution == "Normal":
            cfg.update(mean=self.mean, std=self.std)
        else:
            cfg.update(low=self.low, high=self.high)
        return cfg


class _ConstantOp(Layer):
    """A learned array of the input's shape, combined with the input elementwise."""

    sequence_support = None
    _name = ""
    _start = 0.0

    def __init__(self, values: Any, learn: bool, input: ShapeLike) -> None:
        super().__init__()
        self.learn = bool(learn)
        if values is not None and input is None:  # the array has the input's shape
            input = tuple(torch.as_tensor(values).shape)
        self._setup(Input=input)
        if values is not None:
            self.set_array(self._name, values)
            getattr(self, self._name).requires_grad_(self.learn)

    def array_shapes_for(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        return {self._name: shapes["Input"]}

    def _create_array(self, name: str, shape: tuple[int, ...], value: Any = None) -> None:
        if self._shared_already(name):
            super()._create_array(name, shape, value)
            return
        super()._create_array(name, shape, value)
        p = getattr(self, name)
        if value is None:  # a natural start (0 to add, 1 to multiply): no NetInitialize needed
            with torch.no_grad():
                p.fill_(self._start)
            self._uninitialized.discard(name)
        p.requires_grad_(self.learn)

    def init_array(self, name: str, tensor: torch.Tensor, method: str,
                   generator: torch.Generator) -> None:
        tensor.fill_(self._start)

    def _array(self, x: torch.Tensor) -> torch.Tensor:
        a = getattr(self, self._name)
        if a is None:
            kind = type(self).__name__
            raise NetValueError(f"{kind}'s input shape is unknown, so it has no {self._name} "
                                "yet", where=kind, got=f"got input "
                                f"{describe_shape(tuple(x.shape[1:]))}",
                                fix=f"declare it: {kind}(input=shape)")
        return a

    def get_config(self) -> dict[str, Any]:
        return self._with_input({} if self.learn else {"learn": False})


@register_layer
class ConstantPlusLayer(_ConstantOp):
    """Adds a learned array "Biases" of the input's shape (Wolfram's ConstantPlusLayer).

    Args:
        biases: initial values (default 0).
        learn: False for a fixed array.
        input: the shape of the input (optional).

    Shape:
        - Input: ``(*s)``; Output: the same; Biases: ``s``.
    """

    array_names = ("Biases",)
    _name = "Biases"
    _start = 0.0

    def __init__(self, *, biases: Any = None, learn: bool = True, input: ShapeLike = None) -> None:
        super().__init__(biases, learn, input)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self._array(x)


@register_layer
class ConstantTimesLayer(_ConstantOp):
    """Multiplies by a learned array "Scaling" of the input's shape (Wolfram's
    ConstantTimesLayer), a strong-zero product (a zero scaling stops an infinite gradient).

    Args:
        scaling: initial values (default 1).
        learn: False for a fixed array.
        input: the shape of the input (optional).

    Shape:
        - Input: ``(*s)``; Output: the same; Scaling: ``s``.
    """

    array_names = ("Scaling",)
    _name = "Scaling"
    _start = 1.0

    def __init__(self, *, scaling: Any = None, learn: bool = True, input: ShapeLike = None) -> None:
        super().__init__(scaling, learn, input)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ops.mul(x, self._array(x))
