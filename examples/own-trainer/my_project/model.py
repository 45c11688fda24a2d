"""The project's model: a small multilayer perceptron."""

from __future__ import annotations

import torch
from torch import nn


class SineNet(nn.Module):
    """x -> y through two hidden layers of ``hidden`` units."""

    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(1, hidden),
            nn.Tanh(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
