"""Training: ``netgrad.train`` (Wolfram's NetTrain), its results, checkpoints and data
parallelism; :class:`Guard` brings the trainer's divergence guard to a hand-written loop."""

from ._results import NonFiniteStepWarning, ResumeWarning, SkippedStep, TrainingResults
from ._state import Plugin, TrainState
from ._step import Guard, careful
from ._train import train

__all__ = ["train", "TrainingResults", "SkippedStep", "NonFiniteStepWarning", "ResumeWarning",
           "Guard", "careful", "Plugin", "TrainState"]
