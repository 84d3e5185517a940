"""Encoders and decoders: images, labels, strings and numbers in; labels, probabilities and
images out.

``NetEncoder(kind, ...)`` turns a person's data into the array an input port takes;
``NetDecoder(kind, ...)`` turns an output port's array into what a person wants. Attach them to
a net's ports (``NetChain(layers, input=NetEncoder("Image", size=(32, 32)),
output=NetDecoder("Class", labels))``) and ``net(image)`` returns a label,
``net(image, "Probabilities")`` a dict of label → probability, and
``net(image, NetPortGradient("Input"))`` the gradient as an array shaped as the encoded image.

Encoders: ``"Image"``, ``"Scalar"``, ``"Boolean"``, ``"Class"``, ``"Characters"``,
``"Tokens"``, ``"Function"``. Decoders: ``"Class"``, ``"Image"``, ``"Scalar"``, ``"Boolean"``.
"""

from ._base import DECODER_TYPES, ENCODER_TYPES, NetDecoder, NetEncoder
from ._class import ClassDecoder, ClassEncoder
from ._image import ImageDecoder, ImageEncoder
from ._simple import BooleanDecoder, BooleanEncoder, FunctionEncoder, ScalarDecoder, ScalarEncoder
from ._text import CharactersEncoder, TokensEncoder

__all__ = [
    "NetEncoder", "NetDecoder", "ENCODER_TYPES", "DECODER_TYPES",
    "ImageEncoder", "ScalarEncoder", "BooleanEncoder", "ClassEncoder", "CharactersEncoder",
    "TokensEncoder", "FunctionEncoder",
    "ClassDecoder", "ImageDecoder", "ScalarDecoder", "BooleanDecoder",
]
