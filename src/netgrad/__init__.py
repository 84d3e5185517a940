"""netgrad: neural networks whose gradients can be trusted.

The Wolfram Language neural-net core (NetChain, NetGraph, named ports, a layer library,
NetPortGradient) on PyTorch, keeping the gradient contract: no NaN or Inf where the mathematics
is finite.
"""

from . import ops
from ._errors import (FileError, LoadError, MissingFileError, NetgradError, NetKeyError,
                      NetTypeError, NetValueError, NonFiniteError, ShapeError, UninitializedError)
from .gradient import All, NetPortGradient
from .layers import (AggregationLayer, CatenateLayer, ConvolutionLayer, CrossEntropyLossLayer,
                     DeconvolutionLayer, DropoutLayer, ElementwiseLayer, FlattenLayer, Layer,
                     LinearLayer, MeanAbsoluteLossLayer, MeanSquaredLossLayer, PartLayer,
                     PoolingLayer, ReshapeLayer, SoftmaxLayer, ThreadingLayer)
from .layers import (AttentionLayer, BasicRecurrentLayer, CTCLossLayer, GatedRecurrentLayer,
                     LongShortTermMemoryLayer, SequenceIndicesLayer, SequenceLastLayer,
                     SequenceMostLayer, SequenceRestLayer, SequenceReverseLayer)
from ._sequences import SequenceBatch
from .net import (AttentionNetOperator, NetBidirectionalOperator, NetFoldOperator,
                  NetGANOperator, NetMapOperator, NetMapThreadOperator, NetNestOperator,
                  NetPairEmbeddingOperator)
from .layers import (BatchNormalizationLayer, EmbeddingLayer, LocalResponseNormalizationLayer,
                     NormalizationLayer)
from .layers import (AppendLayer, ConstantArrayLayer, ConstantPlusLayer, ConstantTimesLayer,
                     ContrastiveLossLayer, DotLayer, ExtractLayer, NetArrayLayer, OrderingLayer,
                     PaddingLayer, ParametricRampLayer, PrependLayer, RandomArrayLayer,
                     ReplicateLayer, ResizeLayer, SummationLayer, TotalLayer, TransposeLayer,
                     UnitVectorLayer)
from .layers import (CompiledLayer, FunctionLayer, ImageAugmentationLayer, ModuleLayer,
                     NetSharedArray, PlaceholderLayer, SpatialTransformationLayer, register_layer)
from .net import NetChain, NetGraph, NetInitialize, NetModule, NetPort, StaleArraysWarning
from .net import NetPortGradientLayer
from .net import (NetAppend, NetDelete, NetDrop, NetExtract, NetFlatten, NetInformation, NetInsert,
                  NetJoin, NetPrepend, NetReplacePart, NetTake)
from .ops import robust
from .io import load, save
from .debug import check_gradients
from .train import NonFiniteStepWarning, TrainingResults, train
from .encoders import NetDecoder, NetEncoder
from . import encoders, plot

__version__ = "0.1.0"

__all__ = [
    "ops", "robust", "save", "load", "check_gradients",
    "NetEncoder", "NetDecoder", "encoders", "plot",
    "train", "TrainingResults", "NonFiniteStepWarning",
    "NetChain", "NetGraph", "NetPort", "NetInitialize", "NetModule", "StaleArraysWarning",
    "NetPortGradient", "All",
    "Layer", "ElementwiseLayer", "ThreadingLayer", "AggregationLayer", "LinearLayer",
    "PartLayer", "CatenateLayer", "ReshapeLayer", "FlattenLayer", "SoftmaxLayer",
    "DropoutLayer", "MeanSquaredLossLayer", "MeanAbsoluteLossLayer", "CrossEntropyLossLayer",
    "ConvolutionLayer", "DeconvolutionLayer", "PoolingLayer",
    "LongShortTermMemoryLayer", "GatedRecurrentLayer", "BasicRecurrentLayer", "AttentionLayer",
    "SequenceLastLayer", "SequenceMostLayer", "SequenceRestLayer", "SequenceReverseLayer",
    "SequenceIndicesLayer", "CTCLossLayer", "SequenceBatch",
    "NetMapOperator", "NetMapThreadOperator", "NetFoldOperator", "NetNestOperator",
    "NetBidirectionalOperator", "NetPairEmbeddingOperator", "NetGANOperator",
    "NetPortGradientLayer", "AttentionNetOperator",
    "EmbeddingLayer", "BatchNormalizationLayer", "NormalizationLayer",
    "LocalResponseNormalizationLayer",
    "ParametricRampLayer", "ConstantArrayLayer", "NetArrayLayer", "RandomArrayLayer",
    "ConstantPlusLayer", "ConstantTimesLayer", "TransposeLayer", "ReplicateLayer", "AppendLayer",
    "PrependLayer", "ExtractLayer", "OrderingLayer", "PaddingLayer", "ResizeLayer", "DotLayer",
    "TotalLayer", "SummationLayer", "UnitVectorLayer", "ContrastiveLossLayer",
    "FunctionLayer", "CompiledLayer", "PlaceholderLayer", "ModuleLayer", "register_layer",
    "NetSharedArray", "NetTake", "NetDrop", "NetExtract", "NetReplacePart", "NetFlatten",
    "NetJoin", "NetAppend", "NetPrepend", "NetInsert", "NetDelete", "NetInformation",
    "ImageAugmentationLayer", "SpatialTransformationLayer",
    "NetgradError", "NetValueError", "NetTypeError", "NetKeyError", "ShapeError",
    "UninitializedError", "NonFiniteError", "LoadError", "FileError", "MissingFileError",
]

# NetInformation's "SummaryGraphic" is drawn by netgrad.plot (nets sit below plotting)
from .net._information import register_summary_graphic as _register_summary  # noqa: E402
from .plot._summary import summary_graphic as _summary_graphic  # noqa: E402

_register_summary(_summary_graphic)
