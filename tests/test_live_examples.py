"""The bundled training jobs: they follow the Trainer protocol, learn, and use shipped data."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from greenhop.live.jobs.examples import (
    CharTransformerTrainer,
    DigitsCNNTrainer,
    load_digits,
    zen_of_python,
)
from greenhop.live.jobs.trainer import Trainer


@pytest.mark.parametrize("make", [DigitsCNNTrainer, CharTransformerTrainer])
def test_examples_follow_the_protocol_and_learn(make) -> None:  # type: ignore[no-untyped-def]
    trainer = make(seed=1)
    assert isinstance(trainer, Trainer)
    losses = [trainer.step()["loss"] for _ in range(40)]
    assert np.mean(losses[-10:]) < np.mean(losses[:10])


def test_digits_are_scikit_learns() -> None:
    datasets = pytest.importorskip("sklearn.datasets")
    images, labels = load_digits()
    digits = datasets.load_digits()
    assert images.shape == (1797, 8, 8)
    assert np.array_equal(images, digits.images)
    assert np.array_equal(labels, digits.target)


def test_zen_of_python_is_the_bundled_text(capsys) -> None:  # type: ignore[no-untyped-def]
    text = zen_of_python()
    assert text.startswith("The Zen of Python, by Tim Peters")
    assert "Readability counts." in text
    assert capsys.readouterr().out == ""


def test_text_too_short_for_the_context_is_refused() -> None:
    with pytest.raises(ValueError, match="too short"):
        CharTransformerTrainer(text="abc", context=8)
