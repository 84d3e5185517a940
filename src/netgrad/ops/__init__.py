"""netgrad.ops: differentiable operations on torch tensors whose gradients keep the contract.

See ``_rules.py`` for the table of derivative rules and their edge-case conventions.
"""

from ._arith import add, sub, neg, mul, div, pow
from ._elementwise import (sqrt, exp, log, log1p, expm1, abs, ramp, sign, tanh,
                           logistic_sigmoid, softplus, sin, cos, sinc)
from ._binary import atan2, hypot, xlogy, where, clip, maximum, minimum
from ._reductions import sum, mean, prod, cumprod, amax, amin, logsumexp
from ._norms import (norm, var, std, normalize, cosine_similarity, geometric_mean,
                     power_mean)
from ._softmax import softmax, log_softmax
from ._losses import binary_cross_entropy, cross_entropy
from ._linalg import matmul, linear
from ._robust import robust
from ._mode import careful, sync_free

__all__ = [
    "add", "sub", "neg", "mul", "div", "pow",
    "sqrt", "exp", "log", "log1p", "expm1", "abs", "ramp", "sign", "tanh",
    "logistic_sigmoid", "softplus", "sin", "cos", "sinc",
    "atan2", "hypot", "xlogy", "where", "clip", "maximum", "minimum",
    "sum", "mean", "prod", "cumprod", "amax", "amin", "logsumexp",
    "norm", "var", "std", "normalize", "cosine_similarity", "geometric_mean", "power_mean",
    "softmax", "log_softmax",
    "binary_cross_entropy", "cross_entropy",
    "matmul", "linear",
    "robust", "sync_free", "careful",
]

# --- pooling and convolution (owned by the pooling engineer) ---
from ._pooling import (lp_pool1d, lp_pool2d, lp_pool3d,  # noqa: E402
                       power_mean_pool1d, power_mean_pool2d, power_mean_pool3d,
                       max_pool1d, max_pool2d, max_pool3d,
                       mean_pool1d, mean_pool2d, mean_pool3d,
                       total_pool1d, total_pool2d, total_pool3d)
from ._conv import convolution, deconvolution  # noqa: E402

__all__ += [
    "lp_pool1d", "lp_pool2d", "lp_pool3d",
    "power_mean_pool1d", "power_mean_pool2d", "power_mean_pool3d",
    "max_pool1d", "max_pool2d", "max_pool3d",
    "mean_pool1d", "mean_pool2d", "mean_pool3d",
    "total_pool1d", "total_pool2d", "total_pool3d",
    "convolution", "deconvolution",
]

# --- sequences: attention and recurrences (owned by the sequences engineer) ---
from ._attention import scaled_dot_product_attention  # noqa: E402
from ._ctc import ctc_loss  # noqa: E402
from ._recurrent import gru, lstm, rnn_tanh  # noqa: E402

__all__ += ["scaled_dot_product_attention", "lstm", "gru", "rnn_tanh", "ctc_loss"]

# --- normalization (owned by the layers engineer) ---
from ._normalization import (batch_norm, layer_norm, group_norm, instance_norm,  # noqa: E402
                             rms_norm, local_response_norm)

__all__ += ["batch_norm", "layer_norm", "group_norm", "instance_norm", "rms_norm",
            "local_response_norm"]

# --- removable singularities: the series engine (issue 16) ---
from ._limits import removable, taylor  # noqa: E402

__all__ += ["removable", "taylor"]

from ._registry import warm_namespaces as _warm  # noqa: E402

_warm(__all__)
