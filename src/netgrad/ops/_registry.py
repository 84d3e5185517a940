"""The rule registry: every robust operation is one :class:`Rule`, and its autograd Functions are
generated from it.

A rule holds, once:

* ``forward(*args)``: plain torch (``__torch_function__`` is off while it runs);
* ``vjp(ns, g, s)``: the gradients of the inputs, written against a namespace ``ns`` (below);
* ``jvp(ns, ts, s)``: the forward-mode rule (the tangent of the output);
* optionally ``fast(g, s)``: a first-order eager-CPU shortcut (fused kernels, in-place passes)
  that returns the same gradients or None to fall back to ``vjp``;
* the derivative and its edge-case convention as text, for the rules table (``_rules.py``).

Elementwise operations are declared by their *partial derivatives* (:func:`elementwise`), and
their ``vjp`` (``g ⊙ ∂y/∂xᵢ``, summed back to each input's shape) and ``jvp``
(``Σ tᵢ ⊙ ∂y/∂xᵢ``) are derived from them.

The namespaces (``ns``) the formulas are written against:

* :data:`R`: the robust operations themselves, differentiable, used whenever the backward is
  itself recorded (``create_graph=True``, ``torch.func`` transforms, forward-over-reverse), so
  second derivatives keep the contract (rule 8);
* :data:`T`: plain torch with two changes, used for first order eager on the CPU: ``T.mul`` is
  the *strong-zero* product (0 · anything = 0, contract rule 3), decided by one read-back, and
  ``T.sdiv(g, b)`` is ``g ⊙ (1/b)`` formed as a division with the same strong zeros;
* :data:`F`: the same as ``T`` but sync-free: ``F.mul`` imposes strong zeros by branch-free masks
  (no value is read back), used while tracing, under ``torch.func``, on non-CPU devices and under
  :func:`netgrad.ops.sync_free` (see ``_mode.py``).

So one formula serves every path: ``ns.mul(g, d)`` is a strong-zero product in all three.

For each rule, two Functions are generated in the ``setup_context`` style with
``generate_vmap_rule = True``: one with the ``jvp`` staticmethod (eager, ``torch.func``,
``torch.autograd.forward_ad``) and one without it for ``torch.compile`` (dynamo does not trace a
custom ``jvp``). In eager mode the Function is applied through the C entry point directly,
which skips ``Function.apply``'s per-call argument binding (about 25 µs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from torch.autograd import Function

from . import _mode
from ._core import strong_

__all__ = ["Rule", "Saved", "elementwise", "register", "RULES", "R", "T", "F", "namespace",
           "szmul"]

_Tensor = torch.Tensor
_disable = torch._C.DisableTorchFunction
_c_apply = torch._C._FunctionBase.__dict__["apply"]
_is_compiling = torch.compiler.is_compiling
_functorch_active = torch._C._are_functorch_transforms_active
_grad_enabled = torch.is_grad_enabled
_fwd_grad_enabled = torch._C._is_fwd_grad_enabled


@dataclass(frozen=True, eq=False)
class Rule:
    """One robust operation (see the module docstring).

    Args:
        name: the operation's name in :mod:`netgrad.ops`.
        forward: ``forward(*inputs, *params)`` in plain torch; returns the output, or
            ``(output, *aux)`` when ``n_aux > 0`` (aux tensors are saved for the backward and
            never returned to the user).
        arity: how many leading arguments are operands (tensors or numbers); the rest are
            parameters (dims, flags, numbers), passed through unchanged.
        vjp: ``vjp(ns, g, s) -> tuple`` of one gradient (or None) per operand.
        jvp: ``jvp(ns, ts, s) -> tangent``; ``ts`` has one tangent (or None) per operand.
        fast: optional ``fast(g, s) -> tuple | None``, first order, eager CPU only.
        saves: which operands the formulas read (positions), and ``save_output``/``n_aux``
            whether they read the output and the aux tensors.
        derivative, convention: the rules table's text.
        optimistic: True when the sync-free path may return NaN where a 0·inf met inside a sum
            (the exact path then runs under :func:`netgrad.ops.careful`).
        public: True when ``R.<name>`` (in formulas) is the public function ``ops.<name>``,
            which normalizes its arguments (dims, dtype, keyword arguments) before applying the
            rule; False when it is the rule applied directly (positional operands and params).
    """

    name: str
    forward: Callable
    arity: int
    vjp: Callable
    jvp: Callable | None
    fast: Callable | None = None
    saves: tuple[int, ...] = ()
    save_output: bool = False
    n_aux: int = 0
    derivative: str = ""
    convention: str = ""
    optimistic: bool = False
    public: bool = False
    partials: tuple = field(default=(), repr=False)


class Saved:
    """What a rule's formulas read: ``s.inputs`` (operands: tensors, numbers, or None where not
    saved), ``s.shapes`` (each tensor operand's shape, None for numbers), ``s.y`` (the output,
    if saved), ``s.aux``, ``s.params`` and ``s.needs`` (which operands need a gradient)."""

    __slots__ = ("inputs", "shapes", "y", "aux", "params", "needs")

    def __init__(self, inputs, shapes, y, aux, params, needs):
        self.inputs, self.shapes, self.y, self.aux = inputs, shapes, y, aux
        self.params, self.needs = params, needs

    def sum_to(self, grad, i: int):
        """``grad`` summed back to the shape of operand ``i`` (undoing broadcasting); None for a
        number operand or a None gradient."""
        shape = self.shapes[i]
        if shape is None or grad is None:
            return None
        if grad.shape != shape:
            grad = grad.sum_to_size(shape) if len(shape) else grad.sum()
        return grad


def _saved(ctx, n: int, tensors) -> Saved:
    inputs = tuple(t if t is not None else c for t, c in zip(tensors[:n], ctx.consts))
    y = tensors[n]
    return Saved(inputs, ctx.shapes, y, tuple(tensors[n + 1:]), ctx.params,
                 ctx.needs_input_grad[:n])


def _generate(rule: Rule, with_jvp: bool) -> type:
    n, saves, save_y, n_aux = rule.arity, set(rule.saves), rule.save_output, rule.n_aux
    forward_fn, vjp, jvp, fast = rule.forward, rule.vjp, rule.jvp, rule.fast

    def forward(*args):
        with _disable():
            return forward_fn(*args)

    def setup_context(ctx, inputs, output):
        if n_aux:
            y, aux = output[0], output[1:]
            ctx.mark_non_differentiable(*aux)
        else:
            y, aux = output, ()
        ops = inputs[:n]
        tensors = [x if i in saves and isinstance(x, _Tensor) else None for i, x in enumerate(ops)]
        ctx.save_for_backward(*tensors, y if save_y else None, *aux)
        if with_jvp:
            ctx.save_for_forward(*tensors, y if save_y else None, *aux)
        ctx.consts = tuple(None if isinstance(x, _Tensor) else x for x in ops)
        ctx.shapes = tuple(x.shape if isinstance(x, _Tensor) else None for x in ops)
        ctx.params = inputs[n:]

    def backward(ctx, g, *_aux_grads):
        with _disable():
            s = _saved(ctx, n, ctx.saved_tensors)
            grads = None
            if _grad_enabled():
                grads = vjp(R, g, s)
            elif _mode.sync_free_active(g):
                grads = vjp(F, g, s)
            else:
                if fast is not None:
                    grads = fast(g, s)
                if grads is None:
                    grads = vjp(T, g, s)
        return (*grads, *((None,) * (len(ctx.params))))

    attrs: dict[str, Any] = {
        "forward": staticmethod(forward),
        "setup_context": staticmethod(setup_context),
        "backward": staticmethod(backward),
        "generate_vmap_rule": True,
        "__doc__": f"netgrad.ops.{rule.name} (generated from its rule)",
        "__module__": __name__,
    }
    if with_jvp and jvp is not None:
        def jvp_method(ctx, *tangents):
            with _disable():
                s = _saved(ctx, n, ctx.saved_tensors)
                # recorded (forward-over-reverse, jacrev of jacfwd): the robust ops; else the
                # branch-free torch namespace (no read-back inside a transform)
                t = jvp(R if _grad_enabled() else F, tangents[:n], s)
            return (t, *(None,) * n_aux) if n_aux else t

        attrs["jvp"] = staticmethod(jvp_method)
    return type("_" + rule.name, (Function,), attrs)


class _Op:
    """The callable that applies a rule: the right generated Function for the context."""

    __slots__ = ("rule", "function", "traced", "_apply", "_n_aux", "_forward")

    def __init__(self, rule: Rule):
        self.rule = rule
        self.function = _generate(rule, with_jvp=True)
        self.traced = _generate(rule, with_jvp=False)
        self._apply = _c_apply.__get__(None, self.function)
        self._n_aux = rule.n_aux
        self._forward = rule.forward

    def __call__(self, *args):
        if _is_compiling():
            out = self.traced.apply(*args)
        elif _functorch_active():
            out = self.function.apply(*args)
        elif not _grad_enabled() and not _fwd_grad_enabled():
            with _disable():
                out = self._forward(*args)
        else:
            out = self._apply(*args)
        return out[0] if self._n_aux else out


#: Every registered rule, by operation name.
RULES: dict[str, Rule] = {}
_OPS: dict[str, _Op] = {}


def register(rule: Rule) -> _Op:
    """Add a rule to the registry and return the callable that applies it."""
    if rule.name in RULES:
        raise ValueError(f"netgrad.ops: a rule named {rule.name!r} is already registered")
    RULES[rule.name] = rule
    op = _OPS[rule.name] = _Op(rule)
    return op


# ----------------------------------------------------------------------------- elementwise rules
def elementwise(name: str, forward: Callable, partials: Sequence[Callable | None], *,
                saves: Sequence[int] = (), save_output: bool = False,
                grads: Sequence[Callable | None] | None = None, fast: Callable | None = None,
                derivative: str = "", convention: str = "") -> Rule:
    """A rule for an elementwise operation of ``len(partials)`` operands (broadcasting).

    Args:
        partials: one ``d(ns, *inputs, y, *params)`` per operand, the local derivative
            ∂y/∂xᵢ (a tensor or number), or None for an operand that is never differentiable
            (a condition). The gradient is ``g ⊙ d`` (strong zeros) summed to the operand's shape;
            the tangent is ``Σ tᵢ ⊙ dᵢ``.
        grads: optional ``grad(ns, g, *inputs, y, *params)`` per operand (None entries use the
            partial) for rules that are cheaper as a mask than as a product; must equal
            ``g ⊙ d``.
        fast: optional first-order eager-CPU shortcut ``fast(g, s)`` (see :class:`Rule`).
    """
    partials = tuple(partials)
    grads = tuple(grads) if grads is not None else (None,) * len(partials)

    def vjp(ns, g, s):
        ins, y, params = s.inputs, s.y, s.params
        out = []
        for i, x in enumerate(ins):
            if not s.needs[i] or partials[i] is None:
                out.append(None)
                continue
            if grads[i] is not None:
                gi = grads[i](ns, g, *ins, y, *params)
            else:
                gi = ns.mul(g, partials[i](ns, *ins, y, *params))
            out.append(s.sum_to(gi, i))
        return tuple(out)

    def jvp(ns, ts, s):
        ins, y, params = s.inputs, s.y, s.params
        total = None
        for i, t in enumerate(ts):
            if t is None or partials[i] is None:
                continue
            term = ns.mul(t, partials[i](ns, *ins, y, *params))
            total = term if total is None else ns.add(total, term)
        shape = y.shape if isinstance(y, _Tensor) else torch.broadcast_shapes(
            *(sh for sh in s.shapes if sh is not None))
        like = next(t for t in ts if t is not None)
        if total is None or not isinstance(total, _Tensor):
            total = torch.full(shape, 0.0 if total is None else total, dtype=like.dtype,
                               device=like.device)
        elif total.shape != shape:
            total = total.expand(shape).clone()
        return total

    return Rule(name, forward, len(partials), vjp, jvp, fast=fast, saves=tuple(saves),
                save_output=save_output, derivative=derivative, convention=convention,
                partials=partials)


# ----------------------------------------------------------------------------- strong products
def _is_num(v) -> bool:
    return not isinstance(v, _Tensor)


def _num_mul(a: float, b: float) -> float:
    return 0.0 if a == 0 or b == 0 else a * b


def strong_mul_eager(a, b):
    """``a * b`` with 0 · anything = 0, deciding with one read-back (first order, CPU)."""
    if _is_num(a) and _is_num(b):
        return _num_mul(a, b)
    if _is_num(b) and b != 0 and math.isfinite(b):
        return a * b
    if _is_num(a) and a != 0 and math.isfinite(a):
        return a * b
    if _is_num(b):
        return torch.zeros_like(a) if b == 0 else strong_(a * b, a)
    if _is_num(a):
        return torch.zeros_like(b) if a == 0 else strong_(a * b, b)
    return strong_(a * b, a, b)


def strong_mul_free(a, b):
    """``a * b`` with 0 · anything = 0 as branch-free masks (no value is read back)."""
    if _is_num(a) and _is_num(b):
        return _num_mul(a, b)
    if _is_num(b) and b != 0 and math.isfinite(b):
        return a * b
    if _is_num(a) and a != 0 and math.isfinite(a):
        return a * b
    r = a * b
    if _is_num(b):
        return torch.zeros_like(r) if b == 0 else torch.where(a == 0, 0.0, r)
    if _is_num(a):
        return torch.zeros_like(r) if a == 0 else torch.where(b == 0, 0.0, r)
    return torch.where((a == 0) | (b == 0), 0.0, r)


def strong_div_eager(g, b):
    """``g ⊙ (1/b)`` formed as the division ``g / b``, with strong zeros (0 where g = 0, also
    at b = 0; 0 where b = ±inf, also against an infinite g); one read-back."""
    if _is_num(g) and _is_num(b):
        return _num_mul(g, _num_div(1.0, b))
    if _is_num(b):
        if math.isinf(b):
            return torch.zeros_like(g)
        return strong_(g / b, g) if b == 0 else g / b
    if _is_num(g) and g == 0:
        return torch.zeros_like(b)
    return strong_(g / b, g, lambda: 1.0 / b)


def strong_div_free(g, b):
    """:func:`strong_div_eager` as branch-free masks."""
    if _is_num(g) and _is_num(b):
        return _num_mul(g, _num_div(1.0, b))
    if _is_num(b):
        if math.isinf(b):
            return torch.zeros_like(g)
        return torch.where(g == 0, 0.0, g / b) if b == 0 else g / b
    r = g / b
    if _is_num(g):
        return torch.zeros_like(r) if g == 0 else torch.where(b.abs() == math.inf, 0.0, r)
    return torch.where((g == 0) | (b.abs() == math.inf), 0.0, r)


def _robust_sdiv(g, b):
    return _OPS["szmul"](g, _robust_resolver("div")(1.0, b) if isinstance(b, _Tensor)
                         else _num_div(1.0, b))


def _num_div(a: float, b: float) -> float:
    """IEEE division of two numbers (1/0 = inf, 0/0 = nan), as tensors would give."""
    if b == 0:
        return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a) * \
            math.copysign(1.0, b)
    return a / b


def _plain_div(a, b):
    if _is_num(a) and _is_num(b):
        return _num_div(a, b)
    return a / b


# ----------------------------------------------------------------------------- namespaces
class _Namespace:
    """Attribute access to a set of functions, resolved lazily (the robust ops import late)."""

    def __init__(self, name: str, resolve: Callable[[str], Callable], *, fast: bool,
                 sync_free: bool):
        self._name = name
        self._resolve = resolve
        self.fast = fast
        self.sync_free = sync_free

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        fn = self._resolve(name)
        setattr(self, name, fn)
        return fn

    def __repr__(self) -> str:
        return f"<netgrad.ops namespace {self._name}>"

    def _warm(self, names) -> None:
        """Resolve ``names`` now, so that tracing (dynamo) finds plain attributes and never runs
        the lazy resolution."""
        for name in names:
            if name in ("fast", "sync_free"):  # the namespace's own flags (ops.sync_free is a
                continue  # context manager: never a formula's function)
            try:
                self.__getattr__(name)
            except AttributeError:
                pass


_TORCH: dict[str, Callable] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "div": _plain_div,
    "neg": lambda a: -a,
    "logistic_sigmoid": torch.sigmoid,
    "ramp": torch.relu,
    "isinf": lambda x: x.abs() == math.inf,  # (inductor scalarizes torch.isinf on the CPU)
}


def _torch_resolver(mul: Callable, sdiv: Callable) -> Callable[[str], Callable]:
    def resolve(name: str) -> Callable:
        if name in ("mul", "szmul"):
            return mul
        if name == "sdiv":
            return sdiv
        if name in _TORCH:
            return _TORCH[name]
        return getattr(torch, name)
    return resolve


def _robust_resolver(name: str) -> Callable:
    from netgrad import ops

    if name in ("mul", "szmul"):
        return _OPS["szmul"]
    if name == "sdiv":
        return _robust_sdiv
    if name == "isinf":
        return _TORCH["isinf"]
    if name in _OPS and not RULES[name].public:
        return _OPS[name]
    return getattr(ops, name)


#: The robust operations, for backward formulas that must themselves be differentiable.
R = _Namespace("R", _robust_resolver, fast=False, sync_free=False)
#: Plain torch with the strong-zero product, first order, eager (checks by one read-back).
T = _Namespace("T", _torch_resolver(strong_mul_eager, strong_div_eager), fast=True, sync_free=False)
#: Plain torch with the branch-free strong-zero product (traced, torch.func, non-CPU).
F = _Namespace("F", _torch_resolver(strong_mul_free, strong_div_free), fast=False, sync_free=True)


_SPECIAL = ("mul", "szmul", "sdiv", "isinf", "add", "sub", "div", "neg", "logistic_sigmoid", "ramp")


def warm_namespaces(public: Sequence[str]) -> None:
    """Called once :mod:`netgrad.ops` has imported every operation: resolve every name the
    formulas may use in all three namespaces."""
    names = set(public) | set(_OPS) | set(_SPECIAL)
    for ns in (R, T, F):
        ns._warm(sorted(names))


def namespace(t: torch.Tensor | None = None) -> _Namespace:
    """The namespace a first-order computation on ``t`` uses right now (``T`` or ``F``)."""
    return F if _mode.sync_free_active(t) else T


# ----------------------------------------------------------------------------- szmul
def _szmul_forward(a, b):
    return (strong_mul_free if _mode.sync_free_active(a if isinstance(a, _Tensor) else b)
            else strong_mul_eager)(a, b)


#: The strong-zero product as a differentiable operation (R.mul): ``a * b`` with
#: 0 · anything = 0, whose own gradients are strong-zero products again, to any order.
szmul_op = register(elementwise(
    "szmul", _szmul_forward,
    (lambda ns, a, b, y: b, lambda ns, a, b, y: a), saves=(0, 1),
    derivative="g ⊙ b, g ⊙ a",
    convention="0 · anything = 0 in the value and in both gradients (contract rule 3)"))


def szmul(a, b):
    """The strong-zero product ``a * b`` (0 · inf = 0 · nan = 0), differentiable to any order."""
    return szmul_op(a, b)
