"""How many optimiser steps a training run takes: the planner fixes it before a job's key is made."""

from __future__ import annotations

import math

from harness.catalogue.schema import Hyperparameters


def planned_steps(n_examples: int, hp: Hyperparameters) -> int:
    """Optimiser steps, as ``Trainer`` counts them: ``max_steps``, else
    ceil(epochs x ceil(n / (batch_size x gradient_accumulation_steps)))."""
    if hp.max_steps:
        return hp.max_steps
    per_epoch = math.ceil(n_examples / (hp.batch_size * hp.gradient_accumulation_steps))
    return max(1, math.ceil(hp.epochs * per_epoch))
