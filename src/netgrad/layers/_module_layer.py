"""ModuleLayer: any ``torch.nn.Module`` as a vertex of a net.

A torch module placed in a NetChain or NetGraph becomes a ModuleLayer with ports "Input" and
"Output" (or the ports named by ``ModuleLayer(module, inputs=[...], outputs=[...])``). Its output
shapes are found by running it once on meta tensors (no memory, no values). Its parameters are
the layer's arrays, by their torch names (``"weight"``, ``"0.bias"``): they appear in
``NetPortGradient``, training, summaries and saved files. It runs inside
:func:`netgrad.ops.robust`, so the torch functions it calls that have a robust counterpart
(``F.linear``, ``torch.sqrt``, ``F.softmax``, ...) keep the gradient contract; its own backward
(autograd through what it computes) is used.

Saving stores the module's structure as data: for it and each submodule, its class name, its
plain attributes (numbers, strings, tuples...), and the shapes of its parameters and buffers,
whose values are the saved arrays. Loading rebuilds the module from that data, without running
its constructor or any code from the file, so its class must be registered:
:func:`netgrad.register_layer` (every ``torch.nn`` class is). A module that cannot be described
this way (a lambda or a tensor in an attribute, an unregistered class) is refused at save time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from .._errors import LoadError, NetKeyError, NetTypeError, NetValueError
from .._shapes import MaybeShape, ShapeLike
from ._arrays import ArrayState, LayerState
from ._base import MODULE_TYPES, Layer, module_type_name, register_layer
from ._elementwise import _call_robustly
from ._function import infer_by_running

__all__ = ["ModuleLayer", "module_to_data", "module_from_data"]

_DTYPES = {"float64": torch.float64, "float32": torch.float32, "float16": torch.float16,
           "bfloat16": torch.bfloat16, "int64": torch.int64, "int32": torch.int32,
           "bool": torch.bool, "uint8": torch.uint8, "int8": torch.int8, "int16": torch.int16}
_DTYPE_NAMES = {v: k for k, v in _DTYPES.items()}
_MODULE_INTERNALS = frozenset(vars(torch.nn.Module()))
_INTEGER_INPUT = (torch.nn.Embedding, torch.nn.EmbeddingBag)


# ---- a module's structure as data (saving) and back (loading) -----------------------------------

def _plain(value: Any, where: str) -> Any:
    """An attribute as JSON data; tuples, dtypes and non-finite floats are tagged."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else {"float": repr(value)}
    if isinstance(value, tuple):
        return {"tuple": [_plain(v, where) for v in value]}
    if isinstance(value, list):
        return [_plain(v, where) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: _plain(v, where) for k, v in value.items()}}
    if isinstance(value, torch.dtype) and value in _DTYPE_NAMES:
        return {"dtype": _DTYPE_NAMES[value]}
    raise NetTypeError("a saved torch module's attributes are plain data (numbers, strings, "
                       "tuples, lists, dicts, dtypes)", where=where,
                       got=f"got {type(value).__name__} {value!r:.60}",
                       fix="make it a buffer or a submodule, or compute it in forward; or keep "
                           "the net in memory instead of saving it")


def _unplain(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_unplain(v, where) for v in value]
    if isinstance(value, dict) and len(value) == 1:
        (key, inner), = value.items()
        if key == "tuple" and isinstance(inner, list):
            return tuple(_unplain(v, where) for v in inner)
        if key == "dict" and isinstance(inner, dict):
            return {k: _unplain(v, where) for k, v in inner.items()}
        if key == "dtype" and inner in _DTYPES:
            return _DTYPES[inner]
        if key == "float" and inner in ("nan", "inf", "-inf"):
            return float(inner)
    raise LoadError("a module attribute is plain data", where=where, got=f"got {value!r:.80}")


def _tensor_spec(t: torch.Tensor) -> dict[str, Any]:
    return {"shape": list(t.shape), "dtype": _DTYPE_NAMES.get(t.dtype, str(t.dtype))}


def module_to_data(module: torch.nn.Module, where: str) -> dict[str, Any]:
    """The structure of ``module`` as JSON data (no tensor values); NetTypeError for a class
    that is not registered or an attribute that is not plain data."""
    name = module_type_name(type(module))
    if MODULE_TYPES.get(name) is not type(module):
        raise NetTypeError("a torch module's class must be registered to be saved", where=where,
                           got=f"got {name}, which is not registered",
                           fix=f"netgrad.register_layer({type(module).__name__}) before saving "
                               "(and before loading)")
    attrs = {k: _plain(v, f"{where}, attribute {k!r}") for k, v in vars(module).items()
             if k not in _MODULE_INTERNALS}
    params = {n: (None if p is None else {**_tensor_spec(p), "requires_grad": p.requires_grad})
              for n, p in module._parameters.items()}
    buffers = {n: (None if b is None else {**_tensor_spec(b),
                                           "persistent": n not in module._non_persistent_buffers_set})
               for n, b in module._buffers.items()}
    children = {n: (None if c is None else module_to_data(c, f"{where} › {n}"))
                for n, c in module._modules.items()}
    return {"class": name, "attributes": attrs, "parameters": params, "buffers": buffers,
            "children": children, "training": module.training}


def module_from_data(data: Any, where: str) -> torch.nn.Module:
    """Rebuild a module from :func:`module_to_data`'s data, its class looked up among the
    registered ones (its constructor is not run; parameters and buffers are empty tensors of
    their saved shapes, to be filled by the saved values)."""
    if not isinstance(data, dict) or set(data) != {"class", "attributes", "parameters",
                                                   "buffers", "children", "training"}:
        raise LoadError("a saved torch module is {class, attributes, parameters, buffers, "
                        "children, training}", where=where, got=f"got {data!r:.80}")
    cls = MODULE_TYPES.get(data["class"]) if isinstance(data["class"], str) else None
    if cls is None:
        raise LoadError("the torch module's class is registered", where=where,
                        got=f"got {data['class']!r:.80}, which is not registered",
                        fix="register the class with netgrad.register_layer(cls) before loading")
    module = cls.__new__(cls)
    torch.nn.Module.__init__(module)
    for k, v in data["attributes"].items():
        if not isinstance(k, str) or k in _MODULE_INTERNALS or k.startswith("__"):
            raise LoadError("a module attribute has a plain name", where=where, got=f"got {k!r:.60}")
        module.__dict__[k] = _unplain(v, f"{where}, attribute {k!r}")
    for n, spec in data["parameters"].items():
        module.register_parameter(n, None if spec is None else torch.nn.Parameter(
            _empty(spec, where), requires_grad=bool(spec.get("requires_grad", True))))
    for n, spec in data["buffers"].items():
        module.register_buffer(n, None if spec is None else _empty(spec, where),
                               persistent=spec is None or bool(spec.get("persistent", True)))
    for n, child in data["children"].items():
        module.add_module(n, None if child is None else module_from_data(child, f"{where} › {n}"))
    module.training = bool(data["training"])
    return module


def _empty(spec: Any, where: str) -> torch.Tensor:
    if not isinstance(spec, dict) or spec.get("dtype") not in _DTYPES or \
            not isinstance(spec.get("shape"), list) or \
            not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in spec["shape"]):
        raise LoadError("a module tensor has a shape and a dtype", where=where,
                        got=f"got {spec!r:.80}")
    return torch.empty(spec["shape"], dtype=_DTYPES[spec["dtype"]])


# ---- the layer --------------------------------------------------------------------------------

@register_layer
class ModuleLayer(Layer):
    """A ``torch.nn.Module`` as a layer (see the module docstring).

    Args:
        module: the torch module; it is called with the batched inputs in port order.
        inputs: input port names (default ``["Input"]``).
        outputs: output port names (default ``["Output"]``), for a module returning a tuple or
            a dict of tensors.
        integer_inputs: ports that take integers (class indices; automatic for
            ``nn.Embedding``).
        **shapes: per-example shapes of the inputs, e.g. ``Input=(3, 32, 32)`` (``input=`` for
            port "Input").

    Shape:
        - Inputs: as declared or inferred; Outputs: found by running the module on meta
          tensors. Arrays: the module's parameters, by their torch names.
    """

    def __init__(self, module: torch.nn.Module, *, inputs: Sequence[str] = ("Input",),
                 outputs: Sequence[str] = ("Output",), integer_inputs: Sequence[str] | None = None,
                 **shapes: ShapeLike) -> None:
        if not isinstance(module, torch.nn.Module):
            raise NetTypeError("ModuleLayer takes a torch.nn.Module", where="ModuleLayer",
                               got=f"got {type(module).__name__}",
                               fix="e.g. ModuleLayer(torch.nn.Linear(3, 2))")
        super().__init__()
        self.module = module
        self.input_ports = tuple(inputs)  # type: ignore[misc]
        self.output_ports = tuple(outputs)  # type: ignore[misc]
        if integer_inputs is None:
            integer_inputs = self.input_ports if isinstance(module, _INTEGER_INPUT) else ()
        self.integer_input_ports = frozenset(integer_inputs)
        self.array_names = tuple(n for n, _ in module.named_parameters())
        self._uninitialized = set()
        if "input" in shapes and "Input" in self.input_ports:
            shapes["Input"] = shapes.pop("input")
        unknown = [p for p in shapes if p not in self.input_ports]
        if unknown:
            raise NetKeyError(f"ModuleLayer has no input port {unknown[0]!r}", where="ModuleLayer",
                              got=f"got a shape for {unknown[0]!r}",
                              fix=f"its input ports are {list(self.input_ports)}")
        self._setup(**shapes)

    # ---- the module's parameters are the arrays -------------------------------------------
    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            modules = self.__dict__.get("_modules", {})
            if "module" in modules and name in self.__dict__.get("array_names", ()):
                target: Any = modules["module"]  # (an evaluation may have swapped in a tensor)
                for part in name.split("."):
                    target = getattr(target, part)
                return target
            raise

    def array_state(self, name: str) -> str:
        self._check_name(name)
        return "set"

    def array_shape(self, name: str) -> MaybeShape:
        self._check_name(name)
        return tuple(self.module.get_parameter(name).shape)

    def set_array(self, name: str, value: Any) -> None:
        self._check_name(name)
        p = self.module.get_parameter(name)
        t = value.detach() if isinstance(value, torch.Tensor) else torch.as_tensor(value)
        if tuple(t.shape) != tuple(p.shape):
            raise NetValueError(f'array "{name}" has shape {tuple(p.shape)}', where="ModuleLayer",
                                got=f"got values of shape {tuple(t.shape)}",
                                fix="pass values of the parameter's shape")
        with torch.no_grad():
            p.copy_(t)

    def initialize_arrays(self, method: str, generator: torch.Generator,
                          reinitialize: bool = False) -> None:
        """The module's parameters have torch's values already; ``reinitialize`` calls each
        submodule's ``reset_parameters()`` (torch's own initialization), seeded from
        ``generator``."""
        if not reinitialize:
            return
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for m in self.module.modules():
                reset = getattr(m, "reset_parameters", None)
                if callable(reset):
                    reset()

    def save_state(self) -> LayerState:
        arrays = {n: ArrayState("set", tuple(p.shape), p.dtype, p.requires_grad, p.detach())
                  for n, p in self.module.named_parameters()}
        buffers = {f"module.{n}": b.detach() for n, b in self.module.named_buffers()
                   if _persistent(self.module, n)}
        return LayerState(arrays, buffers)

    def load_state(self, state: LayerState) -> None:
        params = dict(self.module.named_parameters())
        if set(state.arrays) != set(params):
            raise NetKeyError(f"the state has one entry per parameter of the module, {list(params)}",
                              where="ModuleLayer", got=f"got {sorted(state.arrays)}",
                              fix="load a state saved from the same module")
        buffers = {f"module.{n}": b for n, b in self.module.named_buffers()}
        for name, a in state.arrays.items():
            p = params[name]
            if a.state != "set" or a.values is None or tuple(a.values.shape) != tuple(p.shape):
                raise NetValueError(f'parameter "{name}" has values of shape {tuple(p.shape)}',
                                    where="ModuleLayer", got=f"got {a!r:.100}")
        for name, value in state.buffers.items():
            if name not in buffers or tuple(value.shape) != tuple(buffers[name].shape):
                raise NetKeyError("the state's buffers are the module's", where="ModuleLayer",
                                  got=f"got buffer {name!r} of shape {tuple(value.shape)}",
                                  fix="load a state saved from the same module")
        with torch.no_grad():
            for name, a in state.arrays.items():
                params[name].data = a.values.detach().clone().to(params[name].device)  # type: ignore[union-attr]
                params[name].requires_grad_(a.requires_grad)
            for name, value in state.buffers.items():
                buffers[name].data = value.detach().clone().to(buffers[name].device)

    # ---- shapes and running ----------------------------------------------------------------
    def _dtypes(self) -> list[torch.dtype]:
        floats = next((p.dtype for p in self.module.parameters() if p.is_floating_point()),
                      torch.get_default_dtype())
        return [torch.long if p in self.integer_input_ports else floats for p in self.input_ports]

    def _on_meta(self, *xs: torch.Tensor) -> Any:
        if xs and xs[0].is_meta:
            tensors = {n: torch.empty_like(t, device="meta")
                       for n, t in list(self.module.named_parameters())
                       + list(self.module.named_buffers())}
            return torch.func.functional_call(self.module, tensors, xs, tie_weights=True)
        return self.module(*xs)

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        # in eval mode: finding shapes must not change the module (batch-norm statistics)
        flags = [(m, m.training) for m in self.module.modules()]
        self.module.eval()
        try:
            out = infer_by_running(self._on_meta, [shapes[p] for p in self.input_ports],
                                   self._dtypes(), f"ModuleLayer ({type(self.module).__name__})")
        finally:
            for m, t in flags:
                m.training = t
        if out is None:
            return dict.fromkeys(self.output_ports)
        return {p: tuple(t.shape[1:]) for p, t in self._results(out).items()}

    def _results(self, out: Any) -> dict[str, torch.Tensor]:
        if isinstance(out, Mapping):
            missing = [p for p in self.output_ports if p not in out]
            if missing:
                raise NetValueError(f"the module returns the output ports {list(self.output_ports)}",
                                    where=f"ModuleLayer ({type(self.module).__name__})",
                                    got=f"got keys {sorted(out)}",
                                    fix="declare outputs=[...] with the module's keys")
            return {p: out[p] for p in self.output_ports}
        if isinstance(out, (tuple, list)):
            if len(out) != len(self.output_ports):
                raise NetValueError(f"the module returns {len(self.output_ports)} outputs",
                                    where=f"ModuleLayer ({type(self.module).__name__})",
                                    got=f"got {len(out)}",
                                    fix="declare outputs=[...] with one name per result")
            return dict(zip(self.output_ports, out))
        return {self.output_ports[0]: out}

    def forward(self, *xs: torch.Tensor) -> Any:
        res = self._results(_call_robustly(self.module, *xs))
        return res[self.output_ports[0]] if len(res) == 1 else res

    # ---- config ------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"module": module_to_data(self.module, "ModuleLayer"),
                               "inputs": list(self.input_ports), "outputs": list(self.output_ports),
                               "integer_inputs": sorted(self.integer_input_ports)}
        shapes = {p: list(s) for p, s in self._declared.items() if s is not None}
        if shapes:
            cfg["shapes"] = shapes
        return cfg

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Layer:
        cfg = dict(config)
        module = cfg.pop("module")
        if isinstance(module, dict):
            module = module_from_data(module, "ModuleLayer")
        shapes = cfg.pop("shapes", {}) or {}
        return cls(module, **cfg, **shapes)

    def config_text(self) -> str:
        return f"ModuleLayer({type(self.module).__name__})"


def _persistent(module: torch.nn.Module, qualified: str) -> bool:
    owner, _, name = qualified.rpartition(".")
    m = module.get_submodule(owner) if owner else module
    return name not in m._non_persistent_buffers_set
