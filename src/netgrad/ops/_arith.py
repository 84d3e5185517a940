"""Arithmetic: add, sub, neg, mul, div, pow."""

from __future__ import annotations

import torch

__all__ = ["add", "sub", "neg", "mul", "div", "pow"]


def add(input, other, *, alpha=1):
    return torch.add(input, other, alpha=alpha)


def sub(input, other, *, alpha=1):
    return torch.sub(input, other, alpha=alpha)


def neg(input):
    return torch.neg(input)


def mul(input, other):
    return torch.mul(input, other)


def div(input, other, *, rounding_mode=None):
    return torch.div(input, other, rounding_mode=rounding_mode)


def pow(input, exponent):
    return torch.pow(input, exponent)
