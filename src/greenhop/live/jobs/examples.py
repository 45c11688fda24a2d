"""Two bundled training jobs that need no download: a CNN on digits and a character-level
transformer language model on the Zen of Python.

Both implement :class:`greenhop.live.jobs.trainer.Trainer`, seed everything in their constructor
and are deterministic on CPU, so a job that was checkpointed and moved ends bit-identical to
one that was not. Between them they use every random source a checkpoint must carry: the CNN
shuffles with its own ``torch.Generator``, adds input noise from ``numpy.random``'s global state
and uses dropout (torch's default generator); the language model samples batch positions with
Python's ``random`` and uses dropout; its output layer is tied to its embedding (shared tensors).
"""

from __future__ import annotations

import codecs
import contextlib
import importlib.util
import io
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from greenhop.errors import require_extra
from greenhop.live._extras import import_torch
from greenhop.live.jobs.trainer import frozen_parameter_keys, make_deterministic


def zen_of_python() -> str:
    """The Zen of Python (PEP 20, 856 characters), from the standard library's ``this`` module,
    which every CPython ships; importing it prints the text, so that print is swallowed."""
    with contextlib.redirect_stdout(io.StringIO()):
        import this
    return codecs.decode(this.s, "rot13")


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits: images (1797, 8, 8) with pixel values 0..16, and labels (1797,).

    Read from the CSV that ships inside scikit-learn, without importing scikit-learn (which
    takes seconds, paid again by every new actor); through ``sklearn.datasets`` if the file
    moved.
    """
    require_extra("sklearn", "live")
    spec = importlib.util.find_spec("sklearn")
    if spec is not None and spec.origin is not None:
        path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
        if path.exists():
            table = np.loadtxt(path, delimiter=",", dtype=np.float64)
            return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)
    from sklearn import datasets

    digits = datasets.load_digits()
    return digits.images, digits.target


class DigitsCNNTrainer:
    """A small CNN on scikit-learn's digits (1797 images of 8×8 pixels, shipped with
    scikit-learn): two 3×3 convolutions, max-pooling, dropout, a linear layer; SGD with
    Nesterov momentum and a step LR schedule. About 3.8 k parameters.

    Parameters: ``seed``; ``batch_size``; ``lr`` the initial learning rate; ``noise_std`` the
    std of the Gaussian input noise (pixel units, pixels in [0, 1]); ``lr_step`` and
    ``lr_gamma`` the step schedule (steps, factor).
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        batch_size: int = 32,
        lr: float = 0.05,
        noise_std: float = 0.05,
        lr_step: int = 50,
        lr_gamma: float = 0.5,
    ) -> None:
        torch = import_torch()
        make_deterministic(seed)
        nn = torch.nn
        images, labels = load_digits()
        self.images = torch.tensor(images / 16.0, dtype=torch.float32).unsqueeze(1)
        self.labels = torch.tensor(labels, dtype=torch.int64)
        self.batch_size = batch_size
        self.noise_std = noise_std
        self.model = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Dropout(0.1),
            nn.Linear(16 * 4 * 4, 10),
        )
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=lr, momentum=0.9, nesterov=True
        )
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, lr_step, lr_gamma)
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = 0
        self.batch_index = 0
        self.permutation = torch.randperm(len(self.labels), generator=self.generator)

    def step(self) -> dict[str, float]:
        torch = import_torch()
        n = len(self.labels)
        if self.batch_index * self.batch_size >= n:
            self.epoch += 1
            self.batch_index = 0
            self.permutation = torch.randperm(n, generator=self.generator)
        start = self.batch_index * self.batch_size
        idx = self.permutation[start : start + self.batch_size]
        noise = np.random.normal(0.0, self.noise_std, size=(len(idx), 1, 8, 8))
        x = self.images[idx] + torch.from_numpy(noise.astype(np.float32))
        y = self.labels[idx]
        self.model.train()
        logits = self.model(x)
        loss = torch.nn.functional.cross_entropy(logits, y)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        lr = self.scheduler.get_last_lr()[0]
        self.scheduler.step()
        self.batch_index += 1
        accuracy = (logits.argmax(1) == y).float().mean()
        return {"loss": loss.item(), "accuracy": accuracy.item(), "lr": float(lr)}

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "data": {
                "generator": self.generator.get_state(),
                "permutation": self.permutation,
                "epoch": self.epoch,
                "batch_index": self.batch_index,
            },
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        data = state["data"]
        self.generator.set_state(data["generator"])
        self.permutation = data["permutation"].clone()
        self.epoch = int(data["epoch"])
        self.batch_index = int(data["batch_index"])


def _device(name: str) -> Any:
    """The torch device named ``name``; ``"auto"`` is the first GPU if any, else the CPU."""
    torch = import_torch()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: torch sees no CUDA GPU here; use 'cpu' or 'auto'")
    return device


class CharTransformerTrainer:
    """A tiny character-level transformer language model (GPT-style, causal) on a text that
    ships with Python: by default the Zen of Python (:func:`zen_of_python`).

    Token and position embeddings, ``n_layers`` pre-norm transformer blocks with dropout, an
    output layer tied to the token embedding; AdamW with a cosine LR schedule over
    ``lr_schedule_steps`` steps. With the defaults, about 11 k parameters.

    ``device``: where the model trains: ``"cpu"`` (default), ``"cuda"``, ``"cuda:1"``, or
    ``"auto"`` (the first GPU when torch sees one, else the CPU). Batches are drawn on the host
    from Python's ``random``, so the data order does not depend on the device.
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        text: str | None = None,
        context: int = 32,
        batch_size: int = 16,
        d_model: int = 32,
        n_heads: int = 2,
        n_layers: int = 1,
        dropout: float = 0.1,
        lr: float = 3e-3,
        lr_schedule_steps: int = 1000,
        device: str = "cpu",
    ) -> None:
        torch = import_torch()
        make_deterministic(seed)
        nn = torch.nn
        self.device = _device(device)
        self.text = zen_of_python() if text is None else text
        if len(self.text) <= context + 1:
            raise ValueError(
                f"Text of {len(self.text)} characters is too short for context {context}."
            )
        self.vocab = sorted(set(self.text))
        index = {c: i for i, c in enumerate(self.vocab)}
        self.tokens = torch.tensor([index[c] for c in self.text], dtype=torch.int64)
        self.context = context
        self.batch_size = batch_size
        self.embed = nn.Embedding(len(self.vocab), d_model)
        nn.init.normal_(self.embed.weight, std=0.02)  # tied to the output: keep logits small
        layer = nn.TransformerEncoderLayer(
            d_model, n_heads, 2 * d_model, dropout, batch_first=True, norm_first=True
        )
        self.model = nn.ModuleDict(
            {
                "embed": self.embed,
                "position": nn.Embedding(context, d_model),
                "blocks": nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False),
                "norm": nn.LayerNorm(d_model),
                "head": nn.Linear(d_model, len(self.vocab), bias=False),
            }
        )
        self.model["head"].weight = self.embed.weight  # tied: shared storage in state_dict
        self.model.to(self.device)
        self.mask = nn.Transformer.generate_square_subsequent_mask(context, device=self.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=0.01)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimizer, lr_schedule_steps
        )
        self.steps_done = 0

    def _logits(self, x: Any) -> Any:
        torch = import_torch()
        m = self.model
        h = m["embed"](x) + m["position"](torch.arange(x.shape[1], device=self.device))
        h = m["blocks"](h, mask=self.mask, is_causal=True)
        return m["head"](m["norm"](h))

    def step(self) -> dict[str, float]:
        torch = import_torch()
        starts = [
            random.randrange(len(self.tokens) - self.context - 1) for _ in range(self.batch_size)
        ]
        x = torch.stack([self.tokens[s : s + self.context] for s in starts])
        y = torch.stack([self.tokens[s + 1 : s + self.context + 1] for s in starts])
        x, y = x.to(self.device), y.to(self.device)
        self.model.train()
        logits = self._logits(x)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, len(self.vocab)), y.reshape(-1))
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        lr = self.scheduler.get_last_lr()[0]
        self.scheduler.step()
        self.steps_done += 1
        return {"loss": loss.item(), "lr": float(lr)}

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "data": {"steps_done": self.steps_done},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.steps_done = int(state["data"]["steps_done"])


class FrozenBaseTrainer:
    """A job with a large frozen part and a small trainable one, as a LoRA or frozen-base
    fine-tuning has: a frozen "pretrained" token embedding table of about ``base_mb`` MB
    (float32, ``requires_grad=False``), under a small trainable classifier (mean-pooled
    embeddings through a two-layer MLP), AdamW. It marks the table frozen
    (:meth:`frozen_keys`), so its checkpoint's immutable part is the table and the mutable
    part the classifier, its optimizer state and the random states.

    The task is synthetic and generated from the seed: bags of ``bag`` token ids, labelled by
    a fixed random teacher over the frozen embeddings. Batches are drawn with the trainer's
    own ``torch.Generator``; dropout uses torch's default one.

    Parameters: ``seed``; ``base_mb`` the frozen table's size (MB, 1e6 bytes); ``dim`` the
    embedding width; ``hidden`` the classifier's width; ``classes``; ``bag`` tokens per
    example; ``batch_size``; ``lr``.
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        base_mb: float = 100.0,
        dim: int = 256,
        hidden: int = 512,
        classes: int = 16,
        bag: int = 32,
        batch_size: int = 32,
        lr: float = 1e-3,
    ) -> None:
        torch = import_torch()
        make_deterministic(seed)
        nn = torch.nn
        vocab = max(classes, int(base_mb * 1e6 / (4 * dim)))
        self.bag, self.batch_size = bag, batch_size
        self.embed = nn.Embedding(vocab, dim)
        self.embed.weight.requires_grad_(False)  # the frozen "pretrained" base
        self.model = nn.ModuleDict(
            {
                "embed": self.embed,
                "head": nn.Sequential(
                    nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(0.1), nn.Linear(hidden, classes)
                ),
            }
        )
        teacher = torch.Generator().manual_seed(seed + 1)
        self.teacher = torch.randn(dim, classes, generator=teacher)
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(trainable, lr=lr)
        self.generator = torch.Generator().manual_seed(seed)
        self.steps_done = 0

    def frozen_keys(self) -> list[str]:
        """The frozen embedding table: ``model/embed.weight``."""
        return frozen_parameter_keys(self.model, "model")

    def step(self) -> dict[str, float]:
        torch = import_torch()
        tokens = torch.randint(
            self.embed.num_embeddings, (self.batch_size, self.bag), generator=self.generator
        )
        pooled = self.embed(tokens).mean(1)
        labels = (pooled @ self.teacher).argmax(1)
        self.model.train()
        logits = self.model["head"](pooled)
        loss = torch.nn.functional.cross_entropy(logits, labels)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.steps_done += 1
        accuracy = (logits.argmax(1) == labels).float().mean()
        return {"loss": loss.item(), "accuracy": accuracy.item()}

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "data": {"generator": self.generator.get_state(), "steps_done": self.steps_done},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["data"]["generator"])
        self.steps_done = int(state["data"]["steps_done"])
