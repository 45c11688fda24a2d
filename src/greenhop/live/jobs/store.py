"""The checkpoint store: every job's last good checkpoints, kept off the sites in one folder.

One store serves both users of saved checkpoints: :class:`~greenhop.live.jobs.driver.LiveJobs`
restores a job from it when the job's site dies with it during a migration, and the
:class:`~greenhop.live.control.controller.Controller` saves each job there (every
``checkpoint_every_s``, at a pause, at the end) and records in its state database which one a
restart resumes from.

A checkpoint of job ``J`` after ``N`` steps is the pair ``J-<N:08d>.safetensors`` and its ``.json``
sidecar (:meth:`~greenhop.live.jobs.checkpoint.Checkpoint.save`, written atomically). A pair without
its sidecar (a crash between the two writes) is not listed. :meth:`CheckpointStore.latest` returns
the newest checkpoint whose SHA-256 matches its sidecar and refuses corrupted ones, so the store
keeps ``keep`` checkpoints per job (default 2: one corrupted file still leaves one).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from greenhop.errors import InputError
from greenhop.live.errors import ChecksumError
from greenhop.live.jobs.checkpoint import Checkpoint

_NAME = re.compile(r"^(?P<job>.+)-(?P<steps>\d{8})\.json$")


class CheckpointStore:
    """Saved checkpoints of jobs under ``root`` (created on the first save).

    ``keep``: checkpoints kept per job, newest first (at least 1). ``on_refused(job_id, exc)``
    is called for each corrupted checkpoint :meth:`latest` passes over.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        keep: int = 2,
        on_refused: Callable[[str, ChecksumError], None] | None = None,
    ) -> None:
        if keep < 1:
            raise InputError(f"a checkpoint store keeps at least 1 checkpoint per job, got {keep}")
        self.root = Path(root)
        self.keep = keep
        self.on_refused = on_refused

    def save(self, job_id: str, checkpoint: Checkpoint) -> Path:
        """Save ``checkpoint`` of ``job_id``; return its path (without suffix), the one
        :meth:`load` takes. Older ones beyond ``keep`` are removed."""
        if not job_id or "/" in job_id or job_id.startswith("."):
            raise InputError(f"job id {job_id!r} cannot name a checkpoint file")
        path = self.root / f"{job_id}-{checkpoint.steps_done:08d}"
        checkpoint.save(path)
        for old in self.paths(job_id)[self.keep :]:
            _remove(old)
        return path

    def paths(self, job_id: str) -> list[Path]:
        """The saved checkpoints of ``job_id`` (paths without suffix), newest first."""
        if not self.root.is_dir():
            return []
        found = []
        for f in self.root.iterdir():
            m = _NAME.match(f.name)
            if m and m["job"] == job_id:
                found.append((int(m["steps"]), f.with_suffix("")))
        return [p for _, p in sorted(found, reverse=True)]

    @staticmethod
    def load(path: str | os.PathLike[str]) -> Checkpoint:
        """The checkpoint saved at ``path``, verified against its SHA-256 (ChecksumError)."""
        return Checkpoint.load(path)

    def latest(self, job_id: str) -> Checkpoint:
        """The newest checkpoint of ``job_id`` that verifies; corrupted ones are refused
        (reported to ``on_refused``) and older ones tried. Raises ChecksumError if every saved
        checkpoint is corrupted, InputError if there is none."""
        errors: list[ChecksumError] = []
        for path in self.paths(job_id):
            try:
                return Checkpoint.load(path)
            except ChecksumError as exc:
                if self.on_refused is not None:
                    self.on_refused(job_id, exc)
                errors.append(exc)
        if errors:
            raise ChecksumError(
                f"Every saved checkpoint of job {job_id!r} is corrupted: {errors[0]}"
            )
        raise InputError(f"Job {job_id!r} has no saved checkpoint under {self.root}.")

    def prune(self, keep: Iterable[str | os.PathLike[str]]) -> None:
        """Remove every checkpoint in the store but those at ``keep`` (a controller keeps the
        ones its committed state points at)."""
        if not self.root.is_dir():
            return
        kept = {Path(p).name for p in keep}
        for f in self.root.iterdir():
            m = _NAME.match(f.name)
            if m and f.with_suffix("").name not in kept:
                _remove(f.with_suffix(""))


def _remove(path: Path) -> None:
    """Remove a saved checkpoint: its sidecar first, so a half-removed pair is never listed."""
    path.with_name(path.name + ".json").unlink(missing_ok=True)
    path.with_name(path.name + ".safetensors").unlink(missing_ok=True)
