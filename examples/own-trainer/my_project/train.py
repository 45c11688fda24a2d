"""The trainer factory greenhop runs: ``trainer = "my_project.train:make_trainer"``.

A trainer has three methods (greenhop.live.jobs.trainer.Trainer): ``step`` (one optimisation
step), ``state_dict`` (everything needed to continue exactly) and ``load_state_dict``. The
model goes on a GPU when the node has one; greenhop copies the checkpoint's tensors to the host,
and ``load_state_dict`` puts them back on this node's device.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from greenhop.live.jobs.trainer import make_deterministic
from my_project.data import damped_sine
from my_project.model import SineNet


class SineTrainer:
    """Mini-batch Adam on the damped sine; the batches come from its own generator."""

    def __init__(self, seed: int, hidden: int, lr: float, batch: int) -> None:
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        x, y = damped_sine(seed=seed)
        self.x = torch.from_numpy(x).to(self.device)
        self.y = torch.from_numpy(y).to(self.device)
        self.model = SineNet(hidden).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.batch = batch
        self.generator = torch.Generator().manual_seed(seed)
        self.steps = 0

    def step(self) -> dict[str, float]:
        idx = torch.randint(len(self.x), (self.batch,), generator=self.generator).to(self.device)
        loss = torch.nn.functional.mse_loss(self.model(self.x[idx]), self.y[idx])
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.steps += 1
        return {"loss": loss.item()}

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "steps": self.steps,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])  # onto this node's device
        self.optimizer.load_state_dict(state["optimizer"])  # follows the parameters' device
        self.generator.set_state(state["generator"])
        self.steps = int(state["steps"])


def make_trainer(seed: int = 0, hidden: int = 32, lr: float = 0.01, batch: int = 64) -> SineTrainer:
    """A new trainer; greenhop passes the job's ``seed`` and the scenario's ``trainer_args``."""
    make_deterministic(seed)
    return SineTrainer(seed, hidden, lr, batch)
