"""The layer library. Each layer declares its ports and arrays and makes one call into
:mod:`netgrad.ops`."""

from ._arrays import ARRAY_STATES, ArrayState, LayerState
from ._base import LAYER_TYPES, MODULE_TYPES, Layer, register_layer
from ._activation import DropoutLayer, SoftmaxLayer
from ._aggregation import AggregationLayer
from ._elementwise import ElementwiseLayer, ThreadingLayer
from ._linear import LinearLayer
from ._loss import CrossEntropyLossLayer, MeanAbsoluteLossLayer, MeanSquaredLossLayer
from ._structure import CatenateLayer, FlattenLayer, PartLayer, ReshapeLayer
from ._convolution import ConvolutionLayer, DeconvolutionLayer
from ._pooling import PoolingLayer
from ._embedding import EmbeddingLayer
from ._recurrent import BasicRecurrentLayer, GatedRecurrentLayer, LongShortTermMemoryLayer
from ._attention import AttentionLayer
from ._sequence import (SequenceIndicesLayer, SequenceLastLayer, SequenceMostLayer,
                        SequenceRestLayer, SequenceReverseLayer)
from ._ctc import CTCLossLayer
from ._normalization import (BatchNormalizationLayer, LocalResponseNormalizationLayer,
                             NormalizationLayer)
from ._activations import ParametricRampLayer
from ._constant import (ConstantArrayLayer, ConstantPlusLayer, ConstantTimesLayer, NetArrayLayer,
                        RandomArrayLayer)
from ._arrangement import (AppendLayer, ExtractLayer, OrderingLayer, PrependLayer,
                           ReplicateLayer, TransposeLayer)
from ._padding import PaddingLayer, ResizeLayer
from ._combine import DotLayer, SummationLayer, TotalLayer, UnitVectorLayer
from ._loss import ContrastiveLossLayer
from ._function import CompiledLayer, FunctionLayer, PlaceholderLayer
from ._module_layer import ModuleLayer
from ._shared import NetSharedArray
from ._image import ImageAugmentationLayer, SpatialTransformationLayer

__all__ = [
    "Layer", "LAYER_TYPES", "register_layer", "LayerState", "ArrayState", "ARRAY_STATES",
    "ElementwiseLayer", "ThreadingLayer", "AggregationLayer", "LinearLayer",
    "PartLayer", "CatenateLayer", "ReshapeLayer", "FlattenLayer",
    "SoftmaxLayer", "DropoutLayer",
    "MeanSquaredLossLayer", "MeanAbsoluteLossLayer", "CrossEntropyLossLayer",
    "ConvolutionLayer", "DeconvolutionLayer", "PoolingLayer",
    "EmbeddingLayer",
    "LongShortTermMemoryLayer", "GatedRecurrentLayer", "BasicRecurrentLayer", "AttentionLayer",
    "SequenceLastLayer", "SequenceMostLayer", "SequenceRestLayer", "SequenceReverseLayer",
    "SequenceIndicesLayer", "CTCLossLayer",
    "BatchNormalizationLayer", "NormalizationLayer", "LocalResponseNormalizationLayer",
    "ParametricRampLayer", "ConstantArrayLayer", "NetArrayLayer", "RandomArrayLayer",
    "ConstantPlusLayer", "ConstantTimesLayer", "TransposeLayer", "ReplicateLayer", "AppendLayer",
    "PrependLayer", "ExtractLayer", "OrderingLayer", "PaddingLayer", "ResizeLayer", "DotLayer",
    "TotalLayer", "SummationLayer", "UnitVectorLayer", "ContrastiveLossLayer",
    "FunctionLayer", "CompiledLayer", "PlaceholderLayer", "ModuleLayer", "MODULE_TYPES",
    "NetSharedArray", "ImageAugmentationLayer", "SpatialTransformationLayer",
]
