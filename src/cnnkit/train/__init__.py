"""Training: config, loop and callbacks, optimizers, schedules, checkpoints, runs."""

from cnnkit.rundir import TrainedModel, load
from cnnkit.train.config import TrainConfig, resolve_config
from cnnkit.train.loop import Callback, FitState, Trainer
from cnnkit.train.run import RunResult, train

__all__ = ["Callback", "FitState", "RunResult", "TrainConfig", "TrainedModel", "Trainer", "load",
           "resolve_config", "train"]
