"""Learning-rate schedules as one small, checkpointable object.

The LR is a pure function of the global step (warm-up, step, cosine,
one-cycle), times a factor that the plateau rule divides by 10 when the
validation error stops improving - at most ``max_drops`` times, as AlexNet was
trained.  Its whole state is a few numbers, saved in every checkpoint.
"""

from __future__ import annotations

import math

from cnnkit.train.config import TrainConfig

ONECYCLE_PEAK_AT = 0.25  # fraction of training spent rising to the peak LR
#: LeCun et al. 1998, section V.B: the global rate 0.0005 for 2 passes, 0.0002 for 3, 0.0001 for 3, 0.00005 for
#: 4, then 0.00001 - as multiples of the first rate, by epoch
LECUN_1998 = (1.0, 1.0, 0.4, 0.4, 0.4, 0.2, 0.2, 0.2, 0.1, 0.1, 0.1, 0.1)
LECUN_1998_AFTER = 0.02


class LRSchedule:
    def __init__(self, cfg: TrainConfig, steps_per_epoch: int):
        self.kind = cfg.schedule
        self.base = cfg.lr
        self.steps_per_epoch = steps_per_epoch
        self.total = max(1, cfg.epochs * steps_per_epoch)
        self.warmup = int(round(cfg.warmup * steps_per_epoch))
        self.step_size, self.gamma = cfg.step_size, cfg.gamma
        self.patience, self.max_drops = cfg.patience, cfg.max_drops
        self.scale = 1.0
        self.best = math.inf
        self.bad_epochs = 0
        self.drops = 0

    def lr_at(self, step: int) -> float:
        lr = self.base * self.scale
        if self.kind == "step":
            lr *= self.gamma ** (step // self.steps_per_epoch // self.step_size)
        elif self.kind == "cosine":
            t = min(1.0, max(0, step - self.warmup) / max(1, self.total - self.warmup))
            lr *= 0.5 * (1 + math.cos(math.pi * t))
        elif self.kind == "lecun1998":
            epoch = step // self.steps_per_epoch
            lr *= LECUN_1998[epoch] if epoch < len(LECUN_1998) else LECUN_1998_AFTER
        elif self.kind == "onecycle":
            t = step / self.total
            if t < ONECYCLE_PEAK_AT:
                lr *= 0.1 + 0.9 * t / ONECYCLE_PEAK_AT
            else:
                lr *= max(0.0, 1 - (t - ONECYCLE_PEAK_AT) / (1 - ONECYCLE_PEAK_AT))
        if step < self.warmup:
            lr *= (step + 1) / self.warmup
        return lr

    def end_epoch(self, val_error: float | None) -> str | None:
        """Feed the epoch's validation error; returns a message when the plateau rule drops the LR."""
        if self.kind != "plateau" or val_error is None:
            return None
        if val_error < self.best - 1e-12:
            self.best, self.bad_epochs = val_error, 0
            return None
        self.bad_epochs += 1
        if self.bad_epochs >= self.patience and self.drops < self.max_drops:
            self.scale *= self.gamma
            self.drops += 1
            self.bad_epochs = 0
            return (f"validation error stopped improving: LR divided by {1 / self.gamma:g} "
                    f"(drop {self.drops} of {self.max_drops})")
        return None

    def state_dict(self) -> dict:
        return {"scale": self.scale, "best": None if math.isinf(self.best) else self.best,
                "bad_epochs": self.bad_epochs, "drops": self.drops}

    def load_state_dict(self, state: dict) -> None:
        self.scale = state["scale"]
        self.best = math.inf if state["best"] is None else state["best"]
        self.bad_epochs, self.drops = state["bad_epochs"], state["drops"]
