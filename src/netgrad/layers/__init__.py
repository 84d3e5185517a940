"""The layer library. Each layer declares its ports and arrays and makes one call into
:mod:`netgrad.ops`."""

from ._arrays import ARRAY_STATES, ArrayState, LayerState
from ._base import LAYER_TYPES, Layer, register_layer
from ._activation import DropoutLayer, SoftmaxLayer
from ._aggregation import AggregationLayer
from ._elementwise import ElementwiseLayer, ThreadingLayer
from ._linear import LinearLayer
from ._loss import CrossEntropyLossLayer, MeanAbsoluteLossLayer, MeanSquaredLossLayer
from ._structure import CatenateLayer, FlattenLayer, PartLayer, ReshapeLayer
from ._convolution import ConvolutionLayer, DeconvolutionLayer
from ._pooling import PoolingLayer
from ._embedding import EmbeddingLayer

__all__ = [
    "Layer", "LAYER_TYPES", "register_layer", "LayerState", "ArrayState", "ARRAY_STATES",
    "ElementwiseLayer", "ThreadingLayer", "AggregationLayer", "LinearLayer",
    "PartLayer", "CatenateLayer", "ReshapeLayer", "FlattenLayer",
    "SoftmaxLayer", "DropoutLayer",
    "MeanSquaredLossLayer", "MeanAbsoluteLossLayer", "CrossEntropyLossLayer",
    "ConvolutionLayer", "DeconvolutionLayer", "PoolingLayer",
    "EmbeddingLayer",
]
