"""The three worked examples: each trains without NaN through netgrad.train and matches the
same model trained in a plain PyTorch loop from the same weights, step for step."""

from __future__ import annotations

import math

from netgrad.examples import gradient_penalty, poisson, sobolev


def test_physics_informed_poisson():
    r = poisson.compare(steps=150)
    assert r["skipped_steps"] == 0 and math.isfinite(r["netgrad_loss"])
    assert r["difference"] < 1e-4                     # the same training, up to rounding
    assert abs(r["netgrad_loss"] / r["torch_loss"] - 1) < 1e-3
    assert r["netgrad_error"] < 0.02                  # and it solves the equation: u ≈ sin(πx)


def test_wgan_gp_with_zero_critic_gradients():
    r = gradient_penalty.compare(steps=60)
    assert r["zero_gradient_samples_at_start"] >= 4   # the flat region is really hit
    assert r["torch_textbook_nan"] == 1.0             # PyTorch's textbook penalty: NaN
    assert r["skipped_steps"] == 0 and math.isfinite(r["netgrad_loss"])
    assert r["difference"] < 1e-4                     # netgrad's textbook = torch's norm()
    assert abs(r["netgrad_loss"] - r["torch_loss"]) < 1e-4


def test_sobolev_training():
    r = sobolev.compare(steps=120)
    assert r["skipped_steps"] == 0 and math.isfinite(r["netgrad_loss"])
    assert r["value_difference"] < 1e-4 and r["slope_difference"] < 1e-4
    assert abs(r["netgrad_loss"] / r["torch_loss"] - 1) < 1e-3
