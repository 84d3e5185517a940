"""Training: ``netgrad.train`` (Wolfram's NetTrain), its results, checkpoints and data parallelism."""

from ._results import NonFiniteStepWarning, SkippedStep, TrainingResults
from ._train import train

__all__ = ["train", "TrainingResults", "SkippedStep", "NonFiniteStepWarning"]
