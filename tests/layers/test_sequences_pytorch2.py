"""PyTorch 2 on the sequence ops and layers: torch.func (grad, vmap) and torch.compile
(fullgraph=True, no graph break) give eager's values and gradients, lengths included.
(The attention op's rule is also in tests/ops/rule_samples.py, so the registry's func, compile
and sync-free suites run over it.)"""

import pytest
import torch
from torch.func import functional_call, grad, vmap

from netgrad import NetInitialize, ops
from netgrad.layers import AttentionLayer, GatedRecurrentLayer, LongShortTermMemoryLayer


@pytest.fixture(autouse=True)
def _seed_every_test():
    """Each test draws from the global RNG in a fixed state (gradgradcheck's output gradients
    too), whatever ran before it on the same worker."""
    torch.manual_seed(0)


D = torch.float64
LENGTHS = torch.tensor([4, 2, 3])


def _weights(kind, k=2, n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    m = {"lstm": 4, "gru": 3, "rnn_tanh": 1}[kind] * n
    return [torch.randn(m, k, generator=g, dtype=D) / 2, torch.randn(m, n, generator=g, dtype=D) / 2,
            torch.randn(m, generator=g, dtype=D) / 4, torch.randn(m, generator=g, dtype=D) / 4]


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_func_grad_of_a_recurrence_equals_autograd(kind):
    fn = getattr(ops, kind)
    w = _weights(kind)
    x = torch.randn(3, 4, 2, dtype=D)

    def loss(x, w_hh):
        return fn(x, w[0], w_hh, w[2], w[3], lengths=LENGTHS)[0].pow(2).sum()

    got = grad(loss, argnums=(0, 1))(x, w[1])
    xs, ws = x.clone().requires_grad_(), w[1].clone().requires_grad_()
    want = torch.autograd.grad(loss(xs, ws), (xs, ws))
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert torch.equal(got[0][1, 2:], torch.zeros(2, 2, dtype=D))  # padding: exact zeros


def test_vmap_of_grad_gives_per_sequence_gradients():
    w = _weights("gru")
    xs = torch.randn(3, 4, 2, dtype=D)

    def one(x):  # one sequence (T, k)
        return ops.gru(x[None], *w)[0].sum()

    per = vmap(grad(one))(xs)
    for i in range(3):
        xi = xs[i].clone().requires_grad_()
        (want,) = torch.autograd.grad(one(xi), xi)
        torch.testing.assert_close(per[i], want, rtol=1e-10, atol=1e-12)


def _eager_and_compiled(fn, *xs):
    leaves = [x.clone().requires_grad_() for x in xs]
    out = fn(*leaves)
    want = (out.detach(), torch.autograd.grad(out.sum(), leaves))
    torch._dynamo.reset()
    compiled = torch.compile(fn, fullgraph=True, backend="aot_eager")
    leaves = [x.clone().requires_grad_() for x in xs]
    out = compiled(*leaves)
    got = (out.detach(), torch.autograd.grad(out.sum(), leaves))
    return want, got


def test_compiled_recurrence_equals_eager():
    w = _weights("lstm")
    x = torch.randn(3, 2, 2, dtype=D)  # two steps: compiling unrolls the loop
    lengths = torch.tensor([2, 1, 2])
    want, got = _eager_and_compiled(
        lambda x, w_ih: ops.lstm(x, w_ih, w[1], w[2], w[3], lengths=lengths)[0], x, w[0])
    torch.testing.assert_close(got[0], want[0], rtol=1e-10, atol=1e-12)
    for a, b in zip(got[1], want[1]):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_attention_layer_compiled_and_under_torch_func():
    """The representative layer: AttentionLayer (two heads, causal, padded keys)."""
    layer = AttentionLayer(heads=2, mask="Causal")
    x = torch.randn(3, 4, 4, dtype=D)

    def run(x):
        return layer.forward(x, x, x, key_lengths=LENGTHS, query_lengths=LENGTHS)

    want, got = _eager_and_compiled(run, x)
    torch.testing.assert_close(got[0], want[0], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(got[1][0], want[1][0], rtol=1e-10, atol=1e-12)
    valid = (torch.arange(4)[None, :] < LENGTHS[:, None])[..., None]
    g = grad(lambda x: ops.where(valid, run(x), 0.0).pow(2).sum())(x)
    xs = x.clone().requires_grad_()
    (ref,) = torch.autograd.grad(ops.where(valid, run(xs), 0.0).pow(2).sum(), xs)
    torch.testing.assert_close(g, ref, rtol=1e-10, atol=1e-12)
    assert torch.equal(g[1, 2:], torch.zeros(2, 4, dtype=D))


@pytest.mark.parametrize("cls", [LongShortTermMemoryLayer, GatedRecurrentLayer])
def test_recurrent_layers_under_functional_call_and_compile(cls):
    layer = NetInitialize(cls(3, input=("Varying", 2)), seed=0).to(D)
    params = {k: v.detach() for k, v in layer.named_parameters()}
    x = torch.randn(3, 4, 2, dtype=D)
    name = next(iter(params))

    def loss(p, x):
        return functional_call(layer, {**params, name: p}, (x,),
                               {"lengths": LENGTHS})["Output"].sum()

    g = grad(loss)(params[name], x)
    p = params[name].clone().requires_grad_()
    (want,) = torch.autograd.grad(loss(p, x), p)
    torch.testing.assert_close(g, want, rtol=1e-10, atol=1e-12)
    want_c, got_c = _eager_and_compiled(
        lambda x: layer.forward(x[:, :2], lengths=torch.tensor([2, 1, 2]))["Output"], x)
    torch.testing.assert_close(got_c[0], want_c[0], rtol=1e-10, atol=1e-12)
