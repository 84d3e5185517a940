"""Training a :class:`~netgrad.NetGANOperator`: the discriminator and the generator take turns.

``netgrad.train(gan, samples)`` (``samples`` an array of real examples, or ``{"Sample": ...}``)
runs, for every batch, two steps of the trainer's own :class:`~._step.Stepper` (its guard,
careful replay, clipping, schedules):

1. the discriminator's, on ``"Loss"`` = -log D(real) - log(1 - D(G(z))), with the generator's
   arrays frozen (no gradient reaches them);
2. the generator's, on ``"GeneratorLoss"`` = -log D(G(z)) (the non-saturating loss), with the
   discriminator's arrays frozen.

The latent vectors ``z`` are drawn from a standard normal for every step (from the trainer's
seeded random state); the data holds only real samples. The history keeps the
discriminator's losses (``batch_losses``, ``round_losses``); the generator's batch losses are
in :attr:`GANStepper.generator_losses` and appended to ``results.generator_losses``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ..net._operators import NetGANOperator
from ._step import Stepper

__all__ = ["is_gan", "gan_data", "GANStepper"]

def is_gan(net: Any) -> bool:
    return isinstance(net, NetGANOperator)


def gan_data(net: Any, data: Any) -> Any:
    """Real samples (an array, or ``{"Sample": array}``) → ``{"Sample", "Latent"}`` with a
    placeholder "Latent" column of zeros (each step draws fresh latent vectors in its place).
    Other data forms are passed on unchanged."""
    if isinstance(data, Mapping):
        if set(data) != {"Sample"}:
            return data
        samples = data["Sample"]
    else:
        samples = data
    if not isinstance(samples, (np.ndarray, torch.Tensor, list)):
        return data
    shape = net.port_shape("Latent") or ()
    return {"Sample": samples, "Latent": torch.zeros((len(samples), *shape))}


class GANStepper(Stepper):
    """The trainer's step, once for the discriminator and once for the generator."""

    def __init__(self, st) -> None:
        super().__init__(st)
        gan = st.work
        disc = {id(p) for p in gan.vertex("Discriminator").parameters()}
        gen = {id(p) for p in gan.vertex("Generator").parameters()}
        self.phases = []
        for port, own, other in (("Loss", disc, gen), ("GeneratorLoss", gen, disc)):
            mine = [p for p in st.params if id(p) in own]
            frozen = [p for p in st.params if id(p) in other]
            self.phases.append((port, mine, frozen))
        self.all_params = st.params
        self.all_good = self.good
        self.latent_shape = tuple(gan.port_shape("Latent") or ())
        self.generator_losses: list[float] = []
        st.results.generator_losses = self.generator_losses

    def __call__(self, batch: dict[str, torch.Tensor], gn: int) -> None:
        st = self.st
        batch = dict(batch)
        n = batch["Sample"].shape[0]
        batch["Latent"] = torch.randn((n, *self.latent_shape), dtype=batch["Sample"].dtype,
                                      device=batch["Sample"].device)
        index = {id(p): i for i, p in enumerate(self.all_params)}
        for port, mine, frozen in self.phases:
            self.loss_ports = (port,)
            self.params = mine
            self.pdata = [p.detach() for p in mine]
            self.good = [self.all_good[index[id(p)]] for p in mine]
            flags = [p.requires_grad for p in frozen]
            for p in frozen:
                p.requires_grad_(False)
            before = (len(st.results.batch_losses), st.round_loss_sum, st.round_examples)
            try:
                super().__call__(batch, gn)
            finally:
                for p, f in zip(frozen, flags):
                    p.requires_grad_(f)
            if port == "GeneratorLoss" and len(st.results.batch_losses) > before[0]:
                # the history keeps the discriminator's loss; the generator's goes aside
                self.generator_losses.append(st.results.batch_losses.pop())
                st.round_loss_sum, st.round_examples = before[1], before[2]
            if st.stop_reason:
                break
        self.params, self.pdata, self.good = self.all_params, [p.detach() for p in self.all_params], \
            self.all_good
        self.loss_ports = ("Loss",)
