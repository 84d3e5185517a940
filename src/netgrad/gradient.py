"""NetPortGradient: which gradient a user asks for, and how it is found in a net.

``net(data, NetPortGradient(spec))`` returns the gradient of the sum of the net's outputs (or
of ``Σ g·output`` for an imposed output gradient ``g``) with respect to:

* ``NetPortGradient("Input")``: an input port (per example for a batch);
* ``NetPortGradient("Weights")``: an array of a single layer;
* ``NetPortGradient(("lin1", "Weights"))``, ``NetPortGradient(("block", 2, "lin", "Biases"))``:
  an array by path through nested nets (vertex names or 0-based positions), summed over a batch;
* ``NetPortGradient(All)``: every real input and every learned array, as a dict keyed by
  ``NetPortGradient`` (a list of specs also gives a dict).

As a key in the data, ``{NetPortGradient("Output"): g}`` imposes ``g`` at that output port
(a vector-Jacobian product); output ports not listed then get 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from ._errors import NetKeyError, NetTypeError, NetValueError
from ._module import NetModule

__all__ = ["NetPortGradient", "All", "Target", "resolve_gradient", "all_gradient_specs"]


class _AllType:
    """The symbol ``All``: every input and every array."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "All"

    def __reduce__(self):
        return "All"


All = _AllType()

SpecPart = Union[str, int]


class NetPortGradient:
    """A request for the gradient at a port or an array (see the module docstring).

    Args:
        spec: a port or array name, a path tuple ``("block", 2, "lin", "Biases")``, or
            :data:`All`.
    """

    __slots__ = ("spec",)
    spec: Any

    def __init__(self, spec: Union[str, tuple, list, _AllType]) -> None:
        if isinstance(spec, list):
            spec = tuple(spec)
        if isinstance(spec, tuple):
            if not spec or not all(isinstance(p, (str, int)) and not isinstance(p, bool)
                                   for p in spec) or not isinstance(spec[-1], str):
                raise NetTypeError("a NetPortGradient path is vertex names or positions "
                                   "ending with an array name", where="NetPortGradient",
                                   got=f"got {spec!r}", fix='e.g. ("lin1", "Weights")')
            if len(spec) == 1:
                spec = spec[0]
        elif not isinstance(spec, (str, _AllType)):
            raise NetTypeError("NetPortGradient takes a port or array name, a path tuple, or All",
                               where="NetPortGradient", got=f"got {type(spec).__name__} {spec!r}",
                               fix='e.g. NetPortGradient("Input"), NetPortGradient(("lin", '
                                   '"Weights")) or NetPortGradient(All)')
        object.__setattr__(self, "spec", spec)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("NetPortGradient is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NetPortGradient) and self.spec == other.spec

    def __hash__(self) -> int:
        return hash(("NetPortGradient", self.spec))

    def __repr__(self) -> str:
        return f"NetPortGradient({self.spec!r})"


@dataclass(frozen=True)
class Target:
    """What a resolved gradient spec points at."""

    kind: str                      # "input" or "array"
    port: str = ""                 # for inputs
    path: tuple[str, ...] = ()     # for arrays: canonical names, ending with the array name
    layer: Any = None
    name: str = ""


def _available(net: NetModule) -> str:
    ins = [p for p in net.input_names() if p not in net.integer_ports()]
    arrays = [(path[-1] if len(path) == 1 else path) for path, _, _ in net.named_arrays()]
    text = f"input ports {ins}"
    if arrays:
        shown = arrays[:12]
        text += f" and arrays {shown}" + (f" (and {len(arrays) - 12} more)" if len(arrays) > 12 else "")
    return text


def resolve_gradient(net: NetModule, spec: NetPortGradient) -> Target:
    """Find what ``spec`` names in ``net``, or raise an error that lists what is available.

    Works on any :class:`~netgrad._module.NetModule` through its ports, ``named_arrays()`` and
    vertices (``vertex_names()``, ``vertex_name(ref)``, ``net[name]``): a layer's arrays are
    named by their name, a net's by their path.
    """
    kind = type(net).__name__
    s = spec.spec
    if isinstance(s, str):
        if s in net.input_names():
            if s in net.integer_ports():
                raise NetValueError(f'port "{s}" takes integers (class indices), which have no '
                                    "gradient", where=f'{kind}, port "{s}"', got=f"got {spec!r}",
                                    fix=f"ask for one of {_available(net)}")
            return Target("input", port=s)
        if s in net.output_names():
            raise NetValueError(f'"{s}" is an output port; gradients are taken with respect to '
                                "inputs and arrays", where=kind, got=f"got {spec!r}",
                                fix=f'impose a gradient at it with {{NetPortGradient("{s}"): g}} '
                                    f"in the data, and ask for one of {_available(net)}")
        if not net.vertex_names() and s in _own_arrays(net):
            return _array_target(net, (s,), net, s, spec)
        fix = f"ask for one of {_available(net)}"
        if net.vertex_names():
            matches = [path for path, _, name in net.named_arrays() if name == s]
            if matches:
                fix = f"arrays of a net are named by path, e.g. NetPortGradient({matches[0]!r})"
        raise NetKeyError(f"{kind} has no input port or array {s!r}", where=kind,
                          got=f"got {spec!r}", fix=fix)
    if isinstance(s, tuple):
        node: NetModule = net
        canon: list[str] = []
        for i, part in enumerate(s[:-1]):
            names = node.vertex_names()
            if not names:
                raise NetKeyError(f"{'/'.join(canon) or kind} is a layer, so the path cannot go "
                                  f"further", where=kind, got=f"got {spec!r}",
                                  fix=f"its arrays are {_own_arrays(node)}")
            try:
                name = node.vertex_name(part)
            except NetKeyError:
                raise NetKeyError(f"no vertex {part!r} at step {i + 1} of the path", where=kind,
                                  got=f"got {spec!r}",
                                  fix=f"vertices there are {names} "
                                      f"(or positions 0 to {len(names) - 1})") from None
            canon.append(name)
            node = node.vertex(name)
        last = s[-1]
        if node.vertex_names():
            raise NetKeyError("the path ends at a net, not at an array", where=kind,
                              got=f"got {spec!r}",
                              fix=f"continue the path with one of {node.vertex_names()}")
        own = _own_arrays(node)
        if last not in own:
            raise NetKeyError(f'{type(node).__name__} "{"/".join(canon)}" has no array {last!r}',
                              where=kind, got=f"got {spec!r}",
                              fix=f"its arrays are {own}" if own
                              else "this layer has no learned arrays")
        return _array_target(net, tuple(canon) + (last,), node, last, spec)
    raise NetTypeError("All is expanded by the caller", got=f"got {spec!r}")


def _own_arrays(layer: NetModule) -> list[str]:
    """The array names of a layer (its ``named_arrays()`` paths have one part)."""
    return [path[0] for path, _, _ in layer.named_arrays() if len(path) == 1]


def _array_target(net: NetModule, path: tuple[str, ...], layer: Any, name: str,
                  spec: NetPortGradient) -> Target:
    p = getattr(layer, name)
    if p is not None and not p.requires_grad:
        raise NetValueError(f'array "{name}" is fixed (not learned), so it has no gradient',
                            where=type(net).__name__, got=f"got {spec!r}",
                            fix="make it learnable (requires_grad) or ask for another array")
    return Target("array", path=path, layer=layer, name=name)


def all_gradient_specs(net: NetModule) -> list[NetPortGradient]:
    """The specs ``All`` expands to: real inputs, then learned arrays, in net order."""
    specs = [NetPortGradient(p) for p in net.input_names() if p not in net.integer_ports()]
    for path, layer, name in net.named_arrays():
        p = getattr(layer, name)
        if p is None or not p.requires_grad:
            continue
        specs.append(NetPortGradient(path[-1] if not net.vertex_names() else path))
    return specs

