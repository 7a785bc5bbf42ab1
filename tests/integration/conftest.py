"""Integration fixtures: one local Ray and one tiny-model session shared by every test that needs them (a vLLM
engine costs about 30 s to start on CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orca_ray.config import load_config

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "jobs" / "configs" / "tiny.yaml"


@pytest.fixture(scope="session")
def tiny_config():
    return load_config(TINY)


@pytest.fixture(scope="session")
def ray_local(tiny_config):
    """A local Ray for the whole test session, stopped at the end (only this one, never `ray stop`)."""
    import ray

    from orca_ray.distributed.cluster import init_ray

    started = not ray.is_initialized()
    init_ray(tiny_config.resources)
    yield
    if started:
        ray.shutdown()


@pytest.fixture(scope="session")
def tiny_session(ray_local, tiny_config):
    """The tiny student's engine actors and the symbolic teacher, shared by the integration tests."""
    from orca_ray.distributed.rounds import open_session
    from orca_ray.models import TINY_MODEL, prepare_model

    with open_session(tiny_config, str(prepare_model(TINY_MODEL))) as session:
        yield session
