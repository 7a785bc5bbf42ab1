"""Integration fixtures: one local Ray and one tiny-model session shared by every test that needs them (a vLLM
engine costs about 30 s to start on CPU)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
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


def _kill_processes_under(path: str) -> None:
    """SIGKILL the processes whose command line names `path` (a Ray's temp dir), and their descendants (the
    dashboard and runtime-env agents do not name it)."""
    parents, named = {}, set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            parents[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if path in cmdline and int(proc.name) != os.getpid():
            named.add(int(proc.name))
    doomed, grew = set(named), True
    while grew:
        more = {pid for pid, ppid in parents.items() if ppid in doomed} - doomed
        doomed |= more
        grew = bool(more)
    for pid in doomed - {os.getpid()}:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def kill_ray_under():
    """`kill_ray_under(temp_dir)`: stop the Ray a test started under its own temp dir, whatever its driver left
    running (a SIGKILLed driver's Ray outlives it). Never `ray stop`: that stops every Ray on the machine."""
    return _kill_processes_under


def _wait_for(condition, driver, timeout_s: float, what: str, none_if_exited: bool = False):
    """condition()'s first truthy value, polled while the driver process runs; the test fails naming `what` when
    the driver exits first (or, with `none_if_exited`, gets None: a run that fails before that moment, which a
    later --resume may reach) or the time is up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if found := condition():
            return found
        if driver.poll() is not None:
            if none_if_exited:
                return None
            pytest.fail(f"the driver exited ({driver.returncode}) before {what}")
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def wait_for():
    """`wait_for(condition, driver, timeout_s, what, none_if_exited=False)`: a fault test's wait for the moment to
    inject its fault."""
    return _wait_for
