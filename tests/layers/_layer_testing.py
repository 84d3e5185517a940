"""Checks shared by the layer-family tests: gradcheck in float64, torch.func and torch.compile."""

from __future__ import annotations

from typing import Callable, Sequence

import torch

import netgrad as ng

F64 = torch.float64


def call(layer, params, *inputs):
    """``layer`` with ``params`` in place of its arrays, PyTorch style (ports by name: a single
    positional tensor would be Wolfram-style evaluation). A layer without inputs makes a batch
    of two."""
    if not layer.input_names():
        with torch.nn.utils.stateless._reparametrize_module(layer, params):
            return layer.forward(batch=2)
    return torch.func.functional_call(layer, params, (), dict(zip(layer.input_names(), inputs)))


def float64(layer):
    """A float64, initialized copy of ``layer`` (arrays with a shape get seeded values)."""
    if layer.uninitialized_arrays():
        layer = ng.NetInitialize(layer, seed=0)
    return layer.double()


def gradchecks(layer, *inputs: torch.Tensor, gradgrad: bool = True, atol: float = 1e-6) -> None:
    """gradcheck (and gradgradcheck) of ``layer.forward`` with respect to its float inputs and
    its learned arrays, in float64."""
    params = {n: p for n, p in layer.named_parameters() if p.requires_grad}
    names = list(params)
    floats = [i for i, x in enumerate(inputs) if x.is_floating_point()]

    def f(*args):
        xs = list(inputs)
        for i, a in zip(floats, args[:len(floats)]):
            xs[i] = a
        values = dict(zip(names, args[len(floats):]))
        return call(layer, values, *xs)

    args = tuple(inputs[i].detach().to(F64).requires_grad_() for i in floats) + tuple(
        p.detach().to(F64).requires_grad_() for p in params.values())
    assert torch.autograd.gradcheck(f, args, atol=atol)
    if gradgrad:
        assert torch.autograd.gradgradcheck(f, args, atol=atol)


def func_grad_and_vmap(layer, x: torch.Tensor, *, others: Sequence[torch.Tensor] = ()) -> None:
    """torch.func.grad of the summed output with respect to the learned arrays, and vmap over
    the batch, agree with eager autograd."""
    params = {n: p.detach() for n, p in layer.named_parameters()}
    learned = [n for n, p in layer.named_parameters() if p.requires_grad]

    def loss(p, xb):
        return call(layer, {**params, **p}, xb, *others).sum()

    if learned:
        g = torch.func.grad(loss)({n: params[n] for n in learned}, x)
        eager = dict(layer.named_parameters())
        out = layer.forward(x, *others).sum()
        ref = torch.autograd.grad(out, [eager[n] for n in learned], allow_unused=True)
        for name, b in zip(learned, ref):
            torch.testing.assert_close(g[name], b if b is not None else torch.zeros_like(g[name]),
                                       msg=name)
    elif x.is_floating_point():
        gx = torch.func.grad(lambda xb: loss({}, xb))(x)
        xl = x.detach().requires_grad_()
        (want,) = torch.autograd.grad(layer.forward(xl, *others).sum(), xl)
        torch.testing.assert_close(gx, want)
    if not others:
        per = torch.func.vmap(lambda xi: call(layer, params, xi.unsqueeze(0)).squeeze(0))(x)
        torch.testing.assert_close(per, layer.forward(x))


def compiles_fullgraph(fn: Callable[..., torch.Tensor], *inputs: torch.Tensor) -> None:
    """``torch.compile(fn, fullgraph=True)`` runs (no graph break) and gives eager's values and
    gradients."""
    torch._dynamo.reset()
    compiled = torch.compile(fn, fullgraph=True, backend="aot_eager")
    a = [x.detach().requires_grad_(x.is_floating_point()) for x in inputs]
    b = [x.detach().requires_grad_(x.is_floating_point()) for x in inputs]
    ya, yb = fn(*a), compiled(*b)
    torch.testing.assert_close(yb, ya)
    ga = [x for x in a if x.requires_grad]
    if ga:
        gy = torch.randn_like(ya)
        ref = torch.autograd.grad(ya, ga, gy, allow_unused=True)
        got = torch.autograd.grad(yb, [x for x in b if x.requires_grad], gy, allow_unused=True)
        for r, g in zip(ref, got):
            if r is not None:
                torch.testing.assert_close(g, r)
