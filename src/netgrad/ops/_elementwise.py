"""Unary elementwise operations."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["sqrt", "exp", "log", "log1p", "expm1", "abs", "ramp", "sign", "tanh",
           "logistic_sigmoid", "softplus", "sin", "cos", "sinc"]


def sqrt(input):
    return torch.sqrt(input)


def exp(input):
    return torch.exp(input)


def log(input):
    return torch.log(input)


def log1p(input):
    return torch.log1p(input)


def expm1(input):
    return torch.expm1(input)


def abs(input):
    return torch.abs(input)


def ramp(input):
    return torch.relu(input)


def sign(input):
    return torch.sign(input)


def tanh(input):
    return torch.tanh(input)


def logistic_sigmoid(input):
    return torch.sigmoid(input)


def softplus(input, beta=1.0, threshold=20.0):
    return F.softplus(input, beta=beta, threshold=threshold)


def sin(input):
    return torch.sin(input)


def cos(input):
    return torch.cos(input)


def sinc(input):
    return torch.sinc(input)
