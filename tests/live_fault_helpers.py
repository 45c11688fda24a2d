"""Calls that the fault tests run inside the namespaced Ray driver (importable there without
the test module's own set-up)."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from namespace_driver import DriverContext

from greenhop.live.errors import ChecksumError
from greenhop.live.jobs.checkpoint import Checkpoint
from greenhop.live.jobs.driver import ACTOR_NAME_PREFIX, LiveJobs
from greenhop.live.jobs.transfer import CheckpointManifest

# -- calls run inside the driver -----------------------------------------------------------------


def snapshot_sha256(ctx: DriverContext, job_id: str) -> tuple[int, str]:
    data = ctx.state["jobs"].snapshot(job_id).to_bytes()
    return Checkpoint.from_bytes(data).steps_done, hashlib.sha256(data).hexdigest()


def training_actors(ctx: DriverContext) -> list[str]:
    """Names of the alive training actors (``greenhop-job/<job>/<site>/<random>``)."""
    named = ctx.ray.util.list_named_actors(all_namespaces=True)
    return [a["name"] for a in named if a["name"].startswith(ACTOR_NAME_PREFIX)]


def jobs_view(ctx: DriverContext) -> dict[str, Any]:
    jobs: LiveJobs = ctx.state["jobs"]
    return {
        job_id: {
            "site": jobs.site_of(job_id),
            "node": jobs.actor_info(job_id)["node_id"],
            "progress": jobs.progress(job_id),
        }
        for job_id in jobs.job_ids()
    }


def events(ctx: DriverContext) -> list[Any]:
    return list(ctx.state["jobs"].events)


def saved_steps(ctx: DriverContext, job_id: str) -> int:
    return ctx.state["jobs"].load_saved(job_id).steps_done


def site_nodes(ctx: DriverContext) -> dict[str, str]:
    return {s: n.node_id for s, n in ctx.refresh_sites().items()}


class CorruptingJobs(LiveJobs):
    """Flips one byte of one chunk of every checkpoint on its way to the destination."""

    def _in_transit(self, manifest: CheckpointManifest) -> CheckpointManifest:
        refs = list(manifest.chunk_refs)
        chunk = np.array(ray_get(refs[1]))
        chunk[1000] ^= 0xFF
        refs[1] = ray_put(chunk)
        return CheckpointManifest(**{**manifest.__dict__, "chunk_refs": tuple(refs)})


def corrupting_migrate(ctx: DriverContext, job_id: str, dest: str) -> str:
    jobs: LiveJobs = ctx.state["jobs"]
    jobs.__class__ = CorruptingJobs  # the same jobs table, with corruption in flight
    try:
        jobs.migrate(job_id, dest)
    except ChecksumError as exc:
        return str(exc)
    finally:
        jobs.__class__ = LiveJobs
    raise AssertionError("the corrupted checkpoint was accepted")


def ray_get(ref: Any) -> Any:
    import ray

    return ray.get(ref)


def ray_put(value: Any) -> Any:
    import ray

    return ray.put(value)
