"""PyTorch's own operator test inputs (``op_db``): each netgrad op accepts torch's sample
inputs (through the same argument conventions as its torch counterpart) and agrees with it;
``robust()`` leaves operators without a counterpart untouched."""

from __future__ import annotations

import warnings

import pytest
import torch

from netgrad import ops
from netgrad.ops._robust import robust_counterpart

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from torch.testing._internal.common_methods_invocations import op_db

F64, F32 = torch.float64, torch.float32

# op_db name (and variant) -> the netgrad op that stands in for it
COUNTERPARTS = {
    ("mul", ""): ops.mul, ("div", "no_rounding_mode"): ops.div, ("pow", ""): ops.pow,
    ("sqrt", ""): ops.sqrt, ("exp", ""): ops.exp, ("log", ""): ops.log, ("log1p", ""): ops.log1p,
    ("expm1", ""): ops.expm1, ("abs", ""): ops.abs, ("nn.functional.relu", ""): ops.ramp,
    ("sign", ""): ops.sign, ("tanh", ""): ops.tanh, ("sigmoid", ""): ops.logistic_sigmoid,
    ("nn.functional.softplus", ""): ops.softplus, ("sin", ""): ops.sin, ("cos", ""): ops.cos,
    ("sinc", ""): ops.sinc, ("atan2", ""): ops.atan2, ("hypot", ""): ops.hypot,
    ("xlogy", ""): ops.xlogy, ("clamp", ""): ops.clip,
    ("where", ""): lambda x, condition, other: ops.where(condition, x, other),  # op_db order
    ("maximum", ""): ops.maximum, ("minimum", ""): ops.minimum, ("prod", ""): ops.prod,
    ("cumprod", ""): ops.cumprod, ("sum", ""): ops.sum, ("mean", ""): ops.mean,
    ("amax", ""): ops.amax, ("amin", ""): ops.amin, ("linalg.vector_norm", ""): ops.norm,
    ("var", ""): ops.var, ("std", ""): ops.std, ("logsumexp", ""): ops.logsumexp,
    ("softmax", ""): ops.softmax, ("log_softmax", "with_dtype"): ops.log_softmax,
    ("nn.functional.normalize", ""): ops.normalize,
    ("nn.functional.cosine_similarity", ""): ops.cosine_similarity,
    ("nn.functional.binary_cross_entropy", ""): ops.binary_cross_entropy,
    ("nn.functional.cross_entropy", ""): ops.cross_entropy, ("matmul", ""): ops.matmul,
    ("nn.functional.linear", ""): ops.linear,
}
_BY_KEY = {(o.name, o.variant_test_name): o for o in op_db}
_MAX_SAMPLES = 12


def _samples(opinfo, dtype, requires_grad=False):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(opinfo.sample_inputs("cpu", dtype, requires_grad=requires_grad))[:_MAX_SAMPLES]


def _flat(out):
    return [t for t in (out if isinstance(out, (tuple, list)) else (out,))
            if isinstance(t, torch.Tensor)]


def test_every_counterpart_is_in_op_db():
    missing = [k for k in COUNTERPARTS if k not in _BY_KEY]
    assert not missing


@pytest.mark.parametrize("key", list(COUNTERPARTS), ids=lambda k: "-".join(filter(None, k)))
def test_netgrad_op_accepts_and_agrees_on_torch_samples(key):
    opinfo, op = _BY_KEY[key], COUNTERPARTS[key]
    checked = 0
    for dtype in (F32, F64):
        for s in _samples(opinfo, dtype):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                want = opinfo.op(s.input, *s.args, **s.kwargs)
                got = op(s.input, *s.args, **s.kwargs)
            for a, b in zip(_flat(got), _flat(want), strict=True):
                torch.testing.assert_close(a, b, equal_nan=True, rtol=1e-5 if dtype == F32
                                           else 1e-7, atol=1e-5 if dtype == F32 else 1e-7)
            checked += 1
    assert checked > 0


@pytest.mark.parametrize("key", list(COUNTERPARTS), ids=lambda k: "-".join(filter(None, k)))
def test_gradients_agree_where_torch_is_finite(key):
    opinfo, op = _BY_KEY[key], COUNTERPARTS[key]
    if not opinfo.supports_autograd:
        pytest.skip("no autograd in torch")
    for s in _samples(opinfo, F64, requires_grad=True)[:6]:
        leaves = [t for t in (s.input, *s.args) if isinstance(t, torch.Tensor) and t.requires_grad]
        if not leaves:
            continue
        outs = []
        for fn in (opinfo.op, op):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = _flat(fn(s.input, *s.args, **s.kwargs))[0]
            if not out.requires_grad:
                outs = None
                break
            outs.append(torch.autograd.grad(out.sum(), leaves, allow_unused=True))
        if outs is None:
            continue
        for gt, gn in zip(*outs):
            if gt is None or gn is None:
                continue
            ok = torch.isfinite(gt)
            torch.testing.assert_close(gn[ok], gt[ok], rtol=1e-6, atol=1e-6)


# operators with no robust counterpart: robust() must leave them untouched
UNTOUCHED = ["add", "sub", "atan", "asin", "exp2", "floor", "round", "erf", "lerp", "cumsum",
             "nn.functional.gelu", "nn.functional.silu", "nn.functional.conv1d", "masked_fill",
             "gather", "index_select", "cat", "stack", "trace", "diag", "flip", "addmm"]


@pytest.mark.parametrize("name", UNTOUCHED)
def test_robust_mode_leaves_other_ops_untouched(name):
    opinfo = next(o for o in op_db if o.name == name)
    assert robust_counterpart(opinfo.op) is None
    for s in _samples(opinfo, F64)[:6]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = opinfo.op(s.input, *s.args, **s.kwargs)
            with ops.robust():
                got = opinfo.op(s.input, *s.args, **s.kwargs)
        for a, b in zip(_flat(got), _flat(want), strict=True):
            torch.testing.assert_close(a, b, equal_nan=True, rtol=0, atol=0)
