"""Detailed mode: strong-zero counts per layer, eager per-layer checks."""

from __future__ import annotations

import pytest
import torch

from netgrad import (AggregationLayer, ElementwiseLayer, NetChain, NetGraph, NetPort,
                     NetPortGradient, NonFiniteError, ThreadingLayer)
from netgrad import debug
from netgrad.ops import _strong_zero


class _StrongSqrt(torch.autograd.Function):
    """sqrt whose backward resolves 0·inf to 0 and reports it exactly as the ops are asked to."""

    @staticmethod
    def forward(ctx, x):
        y = torch.sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        d = 0.5 / y
        r = g * d
        nan = torch.isnan(r)
        if bool(nan.any()):
            fill = nan & ((g == 0) | (d == 0))
            if _strong_zero.enabled:
                _strong_zero.record(fill, g, d)
            r.masked_fill_(fill, 0)
        return r




def test_strong_zero_resolutions_are_counted_per_layer():
    net = NetGraph({"s": ElementwiseLayer(lambda x: _StrongSqrt.apply(x)),
                    "mask": ThreadingLayer(lambda x, m: x * m),
                    "t": AggregationLayer("Total", 1)},
                   [(["s", NetPort("Mask")], "mask"), ("mask", "t")], Input=4, Mask=4)
    data = {"Input": [0.0, 1.0, 0.0, 4.0], "Mask": [0.0, 1.0, 0.0, 1.0]}
    with debug.detailed() as session:
        g = net(data, NetPortGradient("Input"))
        g = net(data, NetPortGradient("Input"))
    assert list(g) == [0.0, 0.5, 0.0, 0.25]
    counts = session.strong_zeros
    assert set(counts) == {(("s",), "ElementwiseLayer")}
    c = counts[(("s",), "ElementwiseLayer")]
    assert (c.zero_inf, c.zero_nan, c.total) == (4, 0, 4)  # two elements, two calls
    assert c.ops["_StrongSqrtBackward"] == 4
    text = str(session)
    assert '"s" (ElementwiseLayer): 4 × 0·∞, 0 × 0·NaN' in text
    # Outside the block nothing is counted, and the ops' flag is off again.
    assert not _strong_zero.enabled
    net(data, NetPortGradient("Input"))
    assert c.total == 4


def test_zero_times_nan_is_counted_as_such():
    nan = float("nan")

    class _Mul(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            d = torch.full_like(g, nan)
            r = g * d
            fill = torch.isnan(r) & (g == 0)
            if _strong_zero.enabled:
                _strong_zero.record(fill, g, d)
            return r.masked_fill_(fill, 0)

    net = NetChain({"a": ElementwiseLayer(lambda x: _Mul.apply(x)),
                    "b": ElementwiseLayer(lambda x: torch.where(x > 100, x, 0.0))}, input=3)
    with debug.detailed() as session, debug.nonfinite("ignore"):
        net([1.0, 2.0, 3.0], NetPortGradient("Input"))
    c = session.strong_zeros[(("a",), "ElementwiseLayer")]
    assert (c.zero_inf, c.zero_nan) == (0, 3)


def test_no_resolution_no_count_and_message():
    net = NetChain({"t": "Tanh"}, input=2)
    with debug.detailed() as session:
        net([1.0, 2.0], NetPortGradient("Input"))
    assert session.strong_zeros == {}
    assert "never applied" in str(session)


def test_detailed_mode_records_reports_and_points_to_the_primitive():
    net = NetChain({"lin": ElementwiseLayer(lambda x: 3 * x - 3),
                    "f": ElementwiseLayer(lambda x: torch.log(x) + 1)}, input=3)
    with debug.detailed() as session, pytest.raises(NonFiniteError) as info:
        net([2.0, 1.0, 3.0])
    r = info.value.report
    assert session.reports == [r]
    assert r.path == ("f",) and r.primitive == "aten.log" and r.index == (1,)
