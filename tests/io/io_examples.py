"""Example constructions of every registered layer, and the shared config round-trip check.

Every layer type in ``netgrad.layers.LAYER_TYPES`` needs at least one entry in ``EXAMPLES``;
``test_config.py`` fails for a registered layer without one. An example is a constructor and the
data to evaluate it on (port → shape of a batch; ``("int", shape, high)`` for class indices).
``bug`` marks an example that exposes a known get_config bug (the test is a strict xfail, so it
starts failing, as a reminder to drop the mark, once the layer is fixed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from netgrad import ops
from netgrad.io._function import function_from_data, graph_to_data, trace_function
from netgrad import NetInitialize
from netgrad.layers import (LAYER_TYPES, AggregationLayer, CatenateLayer, ConvolutionLayer,
                            CrossEntropyLossLayer, DeconvolutionLayer, DropoutLayer,
                            ElementwiseLayer, FlattenLayer, Layer, LinearLayer,
                            MeanAbsoluteLossLayer, MeanSquaredLossLayer, PartLayer, PoolingLayer,
                            ReshapeLayer, SoftmaxLayer, ThreadingLayer)
from netgrad.layers import (AttentionLayer, BasicRecurrentLayer, CTCLossLayer,
                            GatedRecurrentLayer, LongShortTermMemoryLayer, SequenceIndicesLayer,
                            SequenceLastLayer, SequenceMostLayer, SequenceRestLayer,
                            SequenceReverseLayer)
from netgrad.layers import (BatchNormalizationLayer, EmbeddingLayer, LocalResponseNormalizationLayer,
                            NormalizationLayer)
from netgrad.layers import (AppendLayer, ConstantArrayLayer, ConstantPlusLayer, ConstantTimesLayer,
                            ContrastiveLossLayer, DotLayer, ExtractLayer, NetArrayLayer,
                            OrderingLayer, PaddingLayer, ParametricRampLayer, PrependLayer,
                            RandomArrayLayer, ReplicateLayer, ResizeLayer, SummationLayer,
                            TotalLayer, TransposeLayer, UnitVectorLayer)
from netgrad.layers import CompiledLayer, FunctionLayer, ModuleLayer, PlaceholderLayer
from netgrad.layers import ImageAugmentationLayer, SpatialTransformationLayer


@dataclass
class Example:
    make: Callable[[], Layer]
    data: dict[str, Any] = field(default_factory=dict)
    bug: str | None = None


def _soft(x):
    return ops.sqrt(x * x + 1) - torch.abs(x)


EXAMPLES: dict[str, list[Example]] = {
    "ElementwiseLayer": [
        Example(lambda: ElementwiseLayer("Ramp"), {"Input": (2, 3)}),
        Example(lambda: ElementwiseLayer("Tanh", input=3), {"Input": (2, 3)}),
        Example(lambda: ElementwiseLayer(lambda x: torch.where(x > 0, torch.sqrt(x), 0.5 * x)),
                {"Input": (2, 3)}),
        Example(lambda: ElementwiseLayer(_soft, input=(2, 2)), {"Input": (3, 2, 2)}),
    ],
    "ThreadingLayer": [
        Example(lambda: ThreadingLayer("Times"), {"Input1": (2, 3), "Input2": (2, 3)}),
        Example(lambda: ThreadingLayer(lambda x, y: x * y - ops.hypot(x, y) / 2),
                {"Input1": (2, 3), "Input2": (2, 3)}),
        Example(lambda: ThreadingLayer(lambda *xs: xs[0] + xs[1] * xs[2], n=3),
                {"Input1": (2, 3), "Input2": (2, 3), "Input3": (2, 3)}),
    ],
    "AggregationLayer": [
        Example(lambda: AggregationLayer("Times", 1), {"Input": (2, 3)}),
        Example(lambda: AggregationLayer("Max", [1, 2], input=(2, 3)), {"Input": (4, 2, 3)}),
        Example(lambda: AggregationLayer("Mean"), {"Input": (2, 3)}),
    ],
    "LinearLayer": [
        Example(lambda: LinearLayer(3, input=2), {"Input": (4, 2)}),
        Example(lambda: LinearLayer((2, 2), input=(3,)), {"Input": (4, 3)}),
        Example(lambda: LinearLayer(2, input=4, biases=False), {"Input": (3, 4)}),
        Example(lambda: LinearLayer(2, weights=np.arange(6.0).reshape(2, 3) / 7,
                                    biases=[0.5, -0.25]), {"Input": (3, 3)}),
        Example(lambda: LinearLayer(()), {}),
    ],
    "PartLayer": [
        Example(lambda: PartLayer(0), {"Input": (3, 4)}),
        Example(lambda: PartLayer((slice(None), 2)), {"Input": (3, 4)}),
        Example(lambda: PartLayer(slice(1, None, 2), input=5), {"Input": (2, 5)}),
    ],
    "CatenateLayer": [
        Example(lambda: CatenateLayer(), {"Input1": (2, 3), "Input2": (3, 3)}),
        Example(lambda: CatenateLayer(-1, n=3),
                {"Input1": (2, 2, 1), "Input2": (2, 2, 2), "Input3": (2, 2, 1)}),
    ],
    "ReshapeLayer": [
        Example(lambda: ReshapeLayer((2, 3)), {"Input": (6,)}),
        Example(lambda: ReshapeLayer((-1, 2), input=4), {"Input": (3, 4)}),
    ],
    "FlattenLayer": [
        Example(lambda: FlattenLayer(), {"Input": (2, 2, 3)}),
        Example(lambda: FlattenLayer(1, input=(2, 3, 4)), {"Input": (2, 2, 3, 4)}),
    ],
    "SoftmaxLayer": [
        Example(lambda: SoftmaxLayer(), {"Input": (2, 5)}),
        Example(lambda: SoftmaxLayer(1, input=(2, 3)), {"Input": (4, 2, 3)}),
    ],
    "DropoutLayer": [
        Example(lambda: DropoutLayer(0.25), {"Input": (2, 3)}),
        Example(lambda: DropoutLayer(0.1, input=3), {"Input": (2, 3)}),
    ],
    "MeanSquaredLossLayer": [
        Example(lambda: MeanSquaredLossLayer(), {"Input": (2, 3), "Target": (2, 3)}),
        Example(lambda: MeanSquaredLossLayer(input=3), {"Input": (2, 3), "Target": (2, 3)}),
    ],
    "MeanAbsoluteLossLayer": [
        Example(lambda: MeanAbsoluteLossLayer(input=(2, 2)),
                {"Input": (3, 2, 2), "Target": (3, 2, 2)}),
    ],
    "CrossEntropyLossLayer": [
        Example(lambda: CrossEntropyLossLayer("Index", input=4),
                {"Input": ("prob", (3, 4)), "Target": ("int", (3,), 4)}),
        Example(lambda: CrossEntropyLossLayer("Probabilities"),
                {"Input": ("prob", (3, 4)), "Target": ("prob", (3, 4))}),
        Example(lambda: CrossEntropyLossLayer("Binary", input=2),
                {"Input": ("unit", (3, 2)), "Target": ("unit", (3, 2))}),
    ],
    "ConvolutionLayer": [
        Example(lambda: ConvolutionLayer(4, 3, input=(2, 6, 6)), {"Input": (2, 2, 6, 6)}),
        Example(lambda: ConvolutionLayer(2, (3,), stride=2, padding=1, input=(4, 9)),
                {"Input": (2, 4, 9)}),
        Example(lambda: ConvolutionLayer(4, 2, dilation=2, groups=2, input=(2, 5, 5, 5)),
                {"Input": (2, 2, 5, 5, 5)}),
        Example(lambda: ConvolutionLayer(3, 3, stride=2, padding="Same", input=(2, 5, 6)),
                {"Input": (2, 2, 5, 6)}),
    ],
    "DeconvolutionLayer": [
        Example(lambda: DeconvolutionLayer(3, 2, stride=2, input=(2, 4, 4)),
                {"Input": (2, 2, 4, 4)}),
    ],
    "PoolingLayer": [
        Example(lambda: PoolingLayer(2, 2, input=(3, 6, 6)), {"Input": (2, 3, 6, 6)}),
        Example(lambda: PoolingLayer((3,), 1, "Mean", padding=1, input=(2, 7)), {"Input": (2, 2, 7)}),
        Example(lambda: PoolingLayer(2, 2, "LP", input=(3, 4, 4)), {"Input": (2, 3, 4, 4)}),
        Example(lambda: PoolingLayer(2, 2, "PowerMean", power_per_channel=True, input=(3, 4, 4)),
                {"Input": (2, 3, 4, 4)}),
        Example(lambda: PoolingLayer((2, 2, 2), 2, "Total", input=(1, 4, 4, 4)),
                {"Input": (2, 1, 4, 4, 4)}),
        Example(lambda: PoolingLayer(2, 2, "Mean", padding="Same", input=(2, 5, 5)),
                {"Input": (2, 2, 5, 5)}),
    ],
    "EmbeddingLayer": [
        Example(lambda: EmbeddingLayer(3, 5, input=4), {"Input": ("int", (2, 4), 5)}),
        Example(lambda: EmbeddingLayer(2, 4, input=()), {"Input": ("int", (3,), 4)}),
        Example(lambda: EmbeddingLayer(2, weights=np.arange(6.0).reshape(3, 2)),
                {"Input": ("int", (2, 3), 3)}),
    ],
    # --- sequences (the sequences engineer) ---
    "LongShortTermMemoryLayer": [
        Example(lambda: NetInitialize(LongShortTermMemoryLayer(3, input=(4, 2)), seed=1),
                {"Input": (2, 4, 2)}),
        Example(lambda: LongShortTermMemoryLayer(2, input=("Varying", 3),
                                                 dropout={"VariationalState": 0.1})),
        Example(lambda: LongShortTermMemoryLayer(4, dropout=0.25)),
    ],
    "GatedRecurrentLayer": [
        Example(lambda: NetInitialize(GatedRecurrentLayer(3, input=(5, 2)), seed=2),
                {"Input": (2, 5, 2)}),
        Example(lambda: GatedRecurrentLayer(2, input=("Varying", 2),
                                            dropout={"StateUpdate": 0.2})),
    ],
    "BasicRecurrentLayer": [
        Example(lambda: NetInitialize(BasicRecurrentLayer(2, input=(3, 3)), seed=3),
                {"Input": (2, 3, 3)}),
        Example(lambda: BasicRecurrentLayer(5, input=("Varying", 1))),
    ],
    "AttentionLayer": [
        Example(lambda: AttentionLayer(key=(5, 4), value=(5, 3), query=(2, 4)),
                {"Key": (2, 5, 4), "Value": (2, 5, 3), "Query": (2, 2, 4)}),
        Example(lambda: AttentionLayer(heads=2, mask="Causal", key=(3, 4), value=(3, 2),
                                       query=(3, 4)),
                {"Key": (2, 3, 4), "Value": (2, 3, 2), "Query": (2, 3, 4)}),
        Example(lambda: NetInitialize(AttentionLayer("Bilinear", score_rescaling=None,
                                                     key=(4, 3), value=(4, 2), query=(5,)), seed=4),
                {"Key": (2, 4, 3), "Value": (2, 4, 2), "Query": (2, 5)}),
        Example(lambda: AttentionLayer(mask_port=True, dropout=0.1, key=(3, 2), value=(3, 2),
                                       query=(2, 2)),
                {"Key": (2, 3, 2), "Value": (2, 3, 2), "Query": (2, 2, 2),
                 "Mask": ("int", (2, 2, 3), 2)}),
        Example(lambda: AttentionLayer(key=("Varying", 4), value=("Varying", 4),
                                       query=("Varying", 4))),
    ],
    "SequenceLastLayer": [
        Example(lambda: SequenceLastLayer(input=(4, 3)), {"Input": (2, 4, 3)}),
        Example(lambda: SequenceLastLayer(input=("Varying", 2))),
    ],
    "SequenceMostLayer": [
        Example(lambda: SequenceMostLayer(input=(4, 3)), {"Input": (2, 4, 3)}),
    ],
    "SequenceRestLayer": [
        Example(lambda: SequenceRestLayer(input=(4,)), {"Input": (3, 4)}),
    ],
    "SequenceReverseLayer": [
        Example(lambda: SequenceReverseLayer(input=(3, 2)), {"Input": (2, 3, 2)}),
        Example(lambda: SequenceReverseLayer()),
    ],
    "SequenceIndicesLayer": [
        Example(lambda: SequenceIndicesLayer(input=(5, 2)), {"Input": (2, 5, 2)}),
        Example(lambda: SequenceIndicesLayer(3, input="Varying")),
    ],
    "CTCLossLayer": [
        Example(lambda: CTCLossLayer(input=(6, 4)),
                {"Input": ("prob", (2, 6, 4)), "Target": ("int", (2, 2), 3)}),
        Example(lambda: CTCLossLayer(zero_infinity=True, input=("Varying", 3))),
    ],
    "BatchNormalizationLayer": [
        Example(lambda: BatchNormalizationLayer(input=(3, 4, 4)), {"Input": (2, 3, 4, 4)}),
        Example(lambda: BatchNormalizationLayer(0.8, 1e-5, input=3), {"Input": (4, 3)}),
        Example(lambda: BatchNormalizationLayer(scaling=[1.0, 2.0], moving_variance=[0.5, 2.0]),
                {"Input": (2, 4)}),
    ],
    "NormalizationLayer": [
        Example(lambda: NormalizationLayer(input=(3, 4, 4)), {"Input": (2, 3, 4, 4)}),
        Example(lambda: NormalizationLayer(1, "Same", input=5), {"Input": (2, 5)}),
        Example(lambda: NormalizationLayer("1;;", 1, group_number=[2, 1], epsilon=1e-5,
                                           input=(4, 3)), {"Input": (2, 4, 3)}),
        Example(lambda: NormalizationLayer((1, 3), [2], unbiased=True, method="RMS",
                                           biases=False, input=(2, 3, 4)),
                {"Input": (2, 2, 3, 4)}),
    ],
    "ParametricRampLayer": [
        Example(lambda: ParametricRampLayer(input=(3, 2)), {"Input": (2, 3, 2)}),
        Example(lambda: ParametricRampLayer((), slope=0.25, learn_slope=False, input=4),
                {"Input": (2, 4)}),
        Example(lambda: ParametricRampLayer([1, 2], slope=[[0.1, 0.2], [0.3, 0.4]],
                                            input=(2, 2, 3)), {"Input": (2, 2, 2, 3)}),
    ],
    "ConstantArrayLayer": [
        Example(lambda: ConstantArrayLayer([[1.0, 2.0], [3.0, 4.0]]), {}),
        Example(lambda: ConstantArrayLayer(np.arange(3.0)), {}),
    ],
    "NetArrayLayer": [
        Example(lambda: NetArrayLayer((2, 3)), {}),
        Example(lambda: NetArrayLayer(array=[0.5, -1.0]), {}),
    ],
    "RandomArrayLayer": [
        Example(lambda: RandomArrayLayer((2, 3)), {}),
        Example(lambda: RandomArrayLayer(4, "Uniform", low=-1.0, high=2.0), {}),
    ],
    "ConstantPlusLayer": [
        Example(lambda: ConstantPlusLayer(input=(2, 3)), {"Input": (2, 2, 3)}),
        Example(lambda: ConstantPlusLayer(biases=[1.0, 2.0], learn=False), {"Input": (3, 2)}),
    ],
    "ConstantTimesLayer": [
        Example(lambda: ConstantTimesLayer(input=3), {"Input": (2, 3)}),
    ],
    "TransposeLayer": [
        Example(lambda: TransposeLayer(input=(2, 3)), {"Input": (4, 2, 3)}),
        Example(lambda: TransposeLayer((2, 0, 1), input=(2, 3, 4)), {"Input": (2, 2, 3, 4)}),
        Example(lambda: TransposeLayer((0, -1)), {"Input": (2, 3, 4)}),
    ],
    "ReplicateLayer": [
        Example(lambda: ReplicateLayer(3, input=2), {"Input": (4, 2)}),
        Example(lambda: ReplicateLayer((2, 2), -1, input=(3,)), {"Input": (2, 3)}),
    ],
    "AppendLayer": [
        Example(lambda: AppendLayer(input=(3, 2)), {"Input": (2, 3, 2), "Element": (2, 2)}),
    ],
    "PrependLayer": [
        Example(lambda: PrependLayer(input=(3,)), {"Input": (2, 3), "Element": (2,)}),
        Example(lambda: PrependLayer(element=(2,)), {}),
    ],
    "ExtractLayer": [
        Example(lambda: ExtractLayer(input=(3, 4), position=2),
                {"Input": (2, 3, 4), "Position": ("int", (2, 2), 3)}),
        Example(lambda: ExtractLayer(input=(3, 4), position=(2, 1)),
                {"Input": (2, 3, 4), "Position": ("int", (2, 2, 1), 3)}),
    ],
    "OrderingLayer": [
        Example(lambda: OrderingLayer(input=5), {"Input": (2, 5)}),
        Example(lambda: OrderingLayer(-2, input=(2, 4)), {"Input": (3, 2, 4)}),
    ],
    "PaddingLayer": [
        Example(lambda: PaddingLayer([(0, 0), (1, 2)], input=(2, 3)), {"Input": (2, 2, 3)}),
        Example(lambda: PaddingLayer([1, (2, 0)], "Reflected", input=(3, 3)), {"Input": (2, 3, 3)}),
        Example(lambda: PaddingLayer([(2, 3)], "Periodic", input=2), {"Input": (2, 2)}),
        Example(lambda: PaddingLayer([(1, 1)], -1.5, input=4), {"Input": (2, 4)}),
    ],
    "ResizeLayer": [
        Example(lambda: ResizeLayer((4, 6), input=(2, 3, 3)), {"Input": (2, 2, 3, 3)}),
        Example(lambda: ResizeLayer((5,), "Nearest", input=(1, 3)), {"Input": (2, 1, 3)}),
    ],
    "DotLayer": [
        Example(lambda: DotLayer(input1=(2, 3), input2=(3,)), {"Input1": (2, 2, 3), "Input2": (2, 3)}),
        Example(lambda: DotLayer(), {"Input1": (3,), "Input2": (3, 2)}),
    ],
    "TotalLayer": [
        Example(lambda: TotalLayer(), {"Input1": (2, 3), "Input2": (2, 3)}),
        Example(lambda: TotalLayer(3), {"Input1": (2, 2), "Input2": (2, 2), "Input3": (2, 2)}),
    ],
    "SummationLayer": [
        Example(lambda: SummationLayer(input=(2, 3)), {"Input": (4, 2, 3)}),
    ],
    "UnitVectorLayer": [
        Example(lambda: UnitVectorLayer(4, input=3), {"Input": ("int", (2, 3), 4)}),
        Example(lambda: UnitVectorLayer(2, input=()), {"Input": ("int", (3,), 2)}),
    ],
    "ContrastiveLossLayer": [
        Example(lambda: ContrastiveLossLayer(input=()),
                {"Input": ("unit", (4,)), "Target": ("int", (4,), 2)}),
        Example(lambda: ContrastiveLossLayer(0.5, input=2),
                {"Input": ("unit", (3, 2)), "Target": ("unit", (3, 2))}),
    ],
    "FunctionLayer": [
        Example(lambda: FunctionLayer(lambda a, b: torch.sqrt(a * a + b * b), a=3, b=3),
                {"a": (2, 3), "b": (2, 3)}),
        Example(lambda: FunctionLayer(lambda x: ops.norm(x, 2, dim=-1), input=(2, 4)),
                {"Input": (3, 2, 4)}),
        Example(lambda: FunctionLayer(lambda u, v: {"Sum": u + v, "Product": u * v},
                                      outputs=["Sum", "Product"], u=2, v=2),
                {"u": (2, 2), "v": (2, 2)}),
    ],
    "CompiledLayer": [
        Example(lambda: CompiledLayer(torch.fx.symbolic_trace(_soft), x=(3,)), {"x": (2, 3)}),
    ],
    "PlaceholderLayer": [
        Example(lambda: PlaceholderLayer("detector", output_shapes={"Output": (4,)}, Input=(2,))),
        Example(lambda: PlaceholderLayer(inputs=["A", "B"], outputs=["C"])),
    ],
    "ModuleLayer": [
        Example(lambda: ModuleLayer(torch.nn.Linear(3, 2), input=3), {"Input": (4, 3)}),
        Example(lambda: ModuleLayer(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1),
                                                        torch.nn.BatchNorm2d(2), torch.nn.ReLU()),
                                    input=(1, 4, 4)), {"Input": (2, 1, 4, 4)}),
        Example(lambda: ModuleLayer(torch.nn.Bilinear(2, 2, 3, bias=False), inputs=["A", "B"],
                                    A=2, B=2), {"A": (3, 2), "B": (3, 2)}),
        Example(lambda: ModuleLayer(torch.nn.Embedding(6, 2), input=3), {"Input": ("int", (2, 3), 6)}),
    ],
    "ImageAugmentationLayer": [
        Example(lambda: ImageAugmentationLayer((3, 4), input=(2, 5, 6)), {"Input": (2, 2, 5, 6)}),
        Example(lambda: ImageAugmentationLayer(2, reflection_probabilities=(0.5, 0.5))),
    ],
    "SpatialTransformationLayer": [
        Example(lambda: SpatialTransformationLayer((3, 3), input=(1, 4, 4)),
                {"Input": (2, 1, 4, 4), "Parameters": (2, 6)}),
    ],
    "LocalResponseNormalizationLayer": [
        Example(lambda: LocalResponseNormalizationLayer(input=(6, 3, 3)), {"Input": (2, 6, 3, 3)}),
        Example(lambda: LocalResponseNormalizationLayer(0.5, 0.75, 2.0, 1), {"Input": (2, 4, 2)}),
    ],
}


def netgrad_layer_types() -> dict[str, type[Layer]]:
    """The registered layers that belong to the library (not ones a test registers)."""
    return {k: v for k, v in LAYER_TYPES.items() if v.__module__.startswith("netgrad.")}


def example_params():
    """``(type name, index)`` of every example, for ``pytest.mark.parametrize``."""
    return [(name, i) for name, examples in EXAMPLES.items() for i in range(len(examples))]


def make_data(spec: dict[str, Any], seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for port, s in spec.items():
        if isinstance(s, tuple) and s and s[0] == "int":
            out[port] = rng.integers(0, s[2], size=s[1])
        elif isinstance(s, tuple) and s and s[0] == "prob":
            p = rng.random(s[1]) + 0.1
            out[port] = (p / p.sum(-1, keepdims=True)).astype(np.float32)
        elif isinstance(s, tuple) and s and s[0] == "unit":
            out[port] = (rng.random(s[1]) * 0.8 + 0.1).astype(np.float32)
        else:
            x = rng.normal(size=s).astype(np.float32)
            x.reshape(-1)[:2] = 0.0  # the edge points of the gradient contract
            out[port] = x
    return out


def config_as_json(layer: Layer) -> str:
    """``get_config()`` as JSON text, a user function as its traced data (as ``save`` does)."""
    cfg = dict(layer.get_config())
    if hasattr(layer, "function_to_save"):  # FunctionLayer, CompiledLayer
        key, fn, n = layer.function_to_save()
        cfg[key] = graph_to_data(fn, n, "test") if isinstance(fn, torch.fx.GraphModule) else \
            trace_function(fn, n, type(layer).__name__)
    elif callable(cfg.get("function")):
        arity = 1 if isinstance(layer, ElementwiseLayer) else layer._arity
        cfg["function"] = trace_function(cfg["function"], arity, type(layer).__name__)
    return json.dumps(cfg, allow_nan=False)


def layer_from_json(cls: type[Layer], text: str) -> Layer:
    cfg = json.loads(text)
    key = getattr(cls, "function_key", None)
    if key is not None and isinstance(cfg.get(key), dict):
        cfg[key] = function_from_data(cfg[key], cls.function_arity_from_config(cfg), cls.__name__)
    elif isinstance(cfg.get("function"), dict):
        arity = 1 if cls is ElementwiseLayer else cfg["n"]
        cfg["function"] = function_from_data(cfg["function"], arity, cls.__name__)
    return cls.from_config(cfg)


def check_config_round_trip(layer: Layer) -> Layer:
    """The shared check: ``get_config`` is JSON data and ``from_config`` rebuilds the same layer.

    Same type, same config (again JSON-equal), same declared port shapes, same ports, same
    shapes of ports and arrays, same summary text. Returns the rebuilt layer.
    """
    text = config_as_json(layer)
    rebuilt = layer_from_json(type(layer), text)
    assert type(rebuilt) is type(layer)
    assert config_as_json(rebuilt) == text
    declared = layer.declared_port_shapes()
    assert rebuilt.declared_port_shapes() == declared, \
        f"declared shapes {declared} came back as {rebuilt.declared_port_shapes()}"
    assert rebuilt.input_names() == layer.input_names()
    assert rebuilt.output_names() == layer.output_names()
    for p in layer.input_names() + layer.output_names():
        assert rebuilt.port_shape(p) == layer.port_shape(p), p
    assert list(rebuilt.array_names) == list(layer.array_names)
    for name in layer.array_names:
        assert rebuilt.array_shape(name) == layer.array_shape(name), name
    assert rebuilt.config_text() == layer.config_text()
    return rebuilt
