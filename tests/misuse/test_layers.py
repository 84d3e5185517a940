"""Misuses of the layers: options at construction, and data a layer refuses when it runs."""

from __future__ import annotations

import numpy as np
import torch

import netgrad as ng
from netgrad import (AggregationLayer, CatenateLayer, ConvolutionLayer, CrossEntropyLossLayer,
                     DeconvolutionLayer, DropoutLayer, ElementwiseLayer, FlattenLayer,
                     LinearLayer, MeanSquaredLossLayer, NetChain, NetGraph, PartLayer,
                     PoolingLayer, ReshapeLayer, SoftmaxLayer, ThreadingLayer)

from _misuse import Misuse, check, params

V, T, K, S = ng.NetValueError, ng.NetTypeError, ng.NetKeyError, ng.ShapeError


def _ce_net(target="Index"):
    return NetChain([SoftmaxLayer(), CrossEntropyLossLayer(target)], input=3)


def _two(layer, a, b):
    return NetGraph({"j": layer}, [], Input1=a, Input2=b)


ROWS = [
    Misuse("linear size 0", lambda: LinearLayer(0), V, "LinearLayer"),
    Misuse("linear negative size", lambda: LinearLayer(-2), V, "LinearLayer"),
    Misuse("linear size as a string", lambda: LinearLayer("3"), T, "LinearLayer"),
    Misuse("linear size as a float", lambda: LinearLayer(3.5), T, "LinearLayer"),
    Misuse("linear weights of the wrong shape", lambda: LinearLayer(3, weights=np.zeros((2, 4))), S,
           "LinearLayer"),
    Misuse("linear weights not numbers", lambda: LinearLayer(3, weights="abc"), T, "LinearLayer"),
    Misuse("linear biases of the wrong shape",
           lambda: LinearLayer(3, input=2, biases=[1.0, 2.0]), S, "LinearLayer"),
    Misuse("linear input as a string", lambda: LinearLayer(3, input="x"), T, "LinearLayer"),
    Misuse("linear on a scalar input", lambda: LinearLayer(3, input=()), S, "LinearLayer"),
    Misuse("elementwise unknown name", lambda: ElementwiseLayer("Relu"), V, "ElementwiseLayer"),
    Misuse("elementwise lower-case name", lambda: ElementwiseLayer("tanh"), V, "ElementwiseLayer"),
    Misuse("elementwise not a function", lambda: ElementwiseLayer(3), T, "ElementwiseLayer"),
    Misuse("elementwise function changes the shape",
           lambda: NetChain({"f": ElementwiseLayer(lambda x: x.sum(-1))}, input=3)([1.0, 2.0, 3.0]),
           S, '"f" (ElementwiseLayer)'),
    Misuse("threading unknown name", lambda: ThreadingLayer("Add"), V, "ThreadingLayer"),
    Misuse("threading not a function", lambda: ThreadingLayer(None), T, "ThreadingLayer"),
    Misuse("threading n of 0", lambda: ThreadingLayer("Plus", n=0), V, "ThreadingLayer"),
    Misuse("threading inputs that do not broadcast",
           lambda: _two(ThreadingLayer("Plus"), 3, 4), S, "ThreadingLayer"),
    Misuse("threading function output shape differs from the declared one",
           lambda: _two(ThreadingLayer(lambda x, y: (x * y).sum(-1)), 3, 3)(
               {"Input1": [1.0, 2.0, 3.0], "Input2": [1.0, 2.0, 3.0]}), S, '"j" (ThreadingLayer)'),
    Misuse("aggregation unknown function", lambda: AggregationLayer("Sum"), V, "AggregationLayer"),
    Misuse("aggregation levels as a slice", lambda: AggregationLayer("Total", slice(1, None)), T,
           "AggregationLayer"),
    Misuse("aggregation levels as a float", lambda: AggregationLayer("Total", 1.5), T,
           "AggregationLayer"),
    Misuse("aggregation bad span", lambda: AggregationLayer("Total", "a;;b", input=3), V,
           "AggregationLayer"),
    Misuse("aggregation level beyond the rank", lambda: AggregationLayer("Total", 3, input=4), S,
           "AggregationLayer"),
    Misuse("aggregation levels that select nothing",
           lambda: AggregationLayer("Total", "2;;", input=4), S, "AggregationLayer"),
    Misuse("softmax level beyond the rank", lambda: SoftmaxLayer(3, input=4), S, "SoftmaxLayer"),
    Misuse("softmax level as a string", lambda: SoftmaxLayer("last", input=4), T, "SoftmaxLayer"),
    Misuse("softmax on a scalar", lambda: SoftmaxLayer(input=()), S, "SoftmaxLayer"),
    Misuse("dropout probability 1.5", lambda: DropoutLayer(1.5), V, "DropoutLayer"),
    Misuse("dropout probability negative", lambda: DropoutLayer(-0.1), V, "DropoutLayer"),
    Misuse("dropout probability as a string", lambda: DropoutLayer("half"), T, "DropoutLayer"),
    Misuse("part as a string", lambda: PartLayer("first"), T, "PartLayer"),
    Misuse("part index out of range", lambda: PartLayer(5, input=3), S, "PartLayer"),
    Misuse("part with more indices than the rank", lambda: PartLayer((0, 0), input=3), S,
           "PartLayer"),
    Misuse("catenate level beyond the rank", lambda: _two(CatenateLayer(3), 3, 3), S,
           "CatenateLayer"),
    Misuse("catenate inputs of different ranks", lambda: _two(CatenateLayer(), 3, (2, 3)), S,
           "CatenateLayer"),
    Misuse("catenate inputs that disagree", lambda: _two(CatenateLayer(2), (2, 3), (3, 3)), S,
           "CatenateLayer"),
    Misuse("catenate n of 0", lambda: CatenateLayer(1, n=0), V, "CatenateLayer"),
    Misuse("reshape with two -1", lambda: ReshapeLayer((-1, -1)), T, "ReshapeLayer"),
    Misuse("reshape to the wrong number of elements", lambda: ReshapeLayer((4,), input=3), S,
           "ReshapeLayer"),
    Misuse("reshape shape as a string", lambda: ReshapeLayer("flat"), T, "ReshapeLayer"),
    Misuse("flatten levels 0", lambda: FlattenLayer(0), T, "FlattenLayer"),
    Misuse("flatten levels beyond the rank", lambda: FlattenLayer(3, input=(2, 2)), S,
           "FlattenLayer"),
    Misuse("cross-entropy unknown target form", lambda: CrossEntropyLossLayer("Indices"), V,
           "CrossEntropyLossLayer"),
    Misuse("cross-entropy class index out of range",
           lambda: _ce_net()({"Input": [1.0, 2.0, 3.0], "Target": 3}), V, "CrossEntropyLossLayer"),
    Misuse("cross-entropy negative class index",
           lambda: _ce_net()({"Input": [1.0, 2.0, 3.0], "Target": -1}), V, "CrossEntropyLossLayer"),
    Misuse("cross-entropy class index out of range in a batch",
           lambda: _ce_net()({"Input": np.ones((4, 3)), "Target": [0, 1, 2, 7]}), V,
           "CrossEntropyLossLayer"),
    Misuse("cross-entropy class index not an integer",
           lambda: _ce_net()({"Input": [1.0, 2.0, 3.0], "Target": 1.5}), V, "Target"),
    Misuse("cross-entropy class index as a bool",
           lambda: _ce_net()({"Input": [1.0, 2.0, 3.0], "Target": True}), T, "Target"),
    Misuse("cross-entropy probabilities of the wrong shape",
           lambda: NetChain([SoftmaxLayer(), CrossEntropyLossLayer("Probabilities", input=3)],
                            input=4), S, "CrossEntropyLossLayer"),
    Misuse("cross-entropy input a scalar", lambda: CrossEntropyLossLayer(input=()), S,
           "CrossEntropyLossLayer"),
    Misuse("mean squared target of the wrong shape",
           lambda: NetGraph({"l": MeanSquaredLossLayer()}, [], Input=3, Target=4), S,
           "MeanSquaredLossLayer"),
    Misuse("convolution 0 channels", lambda: ConvolutionLayer(0, 3), T, "ConvolutionLayer"),
    Misuse("convolution kernel 0", lambda: ConvolutionLayer(8, 0), V, "ConvolutionLayer"),
    Misuse("convolution options that disagree on dimensions",
           lambda: ConvolutionLayer(8, (3, 3), stride=(1, 1, 1)), V, "ConvolutionLayer"),
    Misuse("convolution groups that do not divide n", lambda: ConvolutionLayer(8, 3, groups=3), V,
           "ConvolutionLayer"),
    Misuse("convolution image too small", lambda: ConvolutionLayer(8, 5, input=(1, 3, 3)), S,
           "ConvolutionLayer"),
    Misuse("convolution input without channels", lambda: ConvolutionLayer(8, 3, input=(9,)), S,
           "ConvolutionLayer"),
    Misuse("convolution negative padding", lambda: ConvolutionLayer(8, 3, padding=-1), V,
           "ConvolutionLayer"),
    Misuse("convolution kernel as a string", lambda: ConvolutionLayer(8, "3"), T,
           "ConvolutionLayer"),
    Misuse("deconvolution weights of the wrong rank",
           lambda: DeconvolutionLayer(4, 2, weights=np.zeros((2, 2))), S, "DeconvolutionLayer"),
    Misuse("pooling unknown function", lambda: PoolingLayer(2, function="Avg"), V, "PoolingLayer"),
    Misuse("pooling kernel 0", lambda: PoolingLayer(0), V, "PoolingLayer"),
    Misuse("pooling negative power", lambda: PoolingLayer(2, 2, "LP", power=-1.0), V,
           "PoolingLayer"),
    Misuse("pooling window larger than the image", lambda: PoolingLayer(5, input=(1, 3, 3)), S,
           "PoolingLayer"),
    Misuse("pooling input without channels", lambda: PoolingLayer(2, input=(3,)), S,
           "PoolingLayer"),
    Misuse("pooling padding over half the kernel", lambda: PoolingLayer(2, padding=2,
                                                                          input=(1, 4, 4)), S,
           "PoolingLayer"),
    Misuse("set_array of the wrong shape",
           lambda: LinearLayer(2, input=3).set_array("Weights", np.zeros((3, 2))), S, "LinearLayer"),
    Misuse("set_array of an unknown array",
           lambda: LinearLayer(2, input=3).set_array("Weight", np.zeros((2, 3))), K, "LinearLayer"),
    Misuse("set_array of text", lambda: LinearLayer(2, input=3).set_array("Biases", ["a", "b"]),
           T, "LinearLayer"),
    Misuse("array_state of an unknown array", lambda: LinearLayer(2).array_state("W"), K,
           "LinearLayer"),
    Misuse("load_state_dict with the wrong shapes",
           lambda: LinearLayer(2, input=3).load_state_dict({"Weights": torch.zeros(3, 3),
                                                            "Biases": torch.zeros(2)}), S,
           "LinearLayer"),
]


@params(ROWS)
def test_layer_misuse(row):
    check(row)
