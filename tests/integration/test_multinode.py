"""The tiny pipeline on a simulated 3-node Ray cluster on this machine (issue 24): a head with the driver and the
round's Ray Data tasks, a learner node, and a sampler node that cannot see the output directory, so adapters reach
its engine through Ray's object store. Stages are pinned by resources.*.node_resource and checked against Ray's
state API; rows are counted per problem against the plan.

The head and the learner node are `ray.cluster_utils.Cluster` nodes, as in Ray's own tests. The sampler node is
`ray start --address` in a mount namespace of its own where output_dir is an empty tmpfs: a node that really does not
see the directory (the other nodes share this machine's filesystem)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

from orca_ray.schemas import Problem, Verdict, read_rows

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "jobs" / "configs" / "tiny.yaml"
RAY = Path(sys.executable).parent / "ray"
NODE_CPUS = 2  # logical CPUs per node: three nodes sized like this 2-core machine
OBJECT_STORE = 150 * 1024**2  # per node, Cluster's default: an adapter is a few MB


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_args(**resources: float) -> dict:
    # Every node of this host needs its own agent port: the default one may be taken by another Ray here.
    return {"num_cpus": NODE_CPUS, "resources": resources, "dashboard_agent_listen_port": _free_port()}


def _can_unshare() -> bool:
    probe = ["unshare", "--mount", "--propagation", "private", "sh", "-c", "mount -t tmpfs tmpfs /mnt"]
    with contextlib.suppress(OSError):
        return subprocess.run(probe, capture_output=True).returncode == 0
    return False


def _alive_nodes(address: str) -> list:
    from ray.util.state import list_nodes

    with contextlib.suppress(Exception):  # the dashboard's state API may not answer yet
        return list_nodes(address=address, filters=[("state", "=", "ALIVE")], raise_on_missing_output=False)
    return []


def start_hidden_node(address: str, hidden: Path, log_path: Path, resource: str) -> subprocess.Popen:
    """`ray start --address` in a mount namespace of its own, where `hidden` is an empty tmpfs: a node of this
    host that really does not see that directory. Its process group is the node (killpg ends it)."""
    start = [
        str(RAY), "start", f"--address={address}", f"--num-cpus={NODE_CPUS}", f'--resources={{"{resource}": 1}}',
        f"--object-store-memory={OBJECT_STORE}", f"--dashboard-agent-listen-port={_free_port()}", "--block",
    ]  # fmt: skip
    hide = 'mount -t tmpfs -o size=1m tmpfs "$0" && exec "$@"'
    with log_path.open("w") as log:
        return subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", hide, str(hidden), *start],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_for_nodes(address: str, count: int, node: subprocess.Popen, log_path: Path) -> list:
    deadline = time.monotonic() + 120
    while len(nodes := _alive_nodes(address)) < count:
        assert node.poll() is None, log_path.read_text()[-3000:]
        assert time.monotonic() < deadline, f"the node did not join: {log_path.read_text()[-3000:]}"
        time.sleep(1)
    return nodes


def stop_node(node: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(node.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        node.wait(timeout=20)


@contextlib.contextmanager
def three_nodes(hidden: Path, log_path: Path, kill_ray_under):
    """(cluster, {role: node_id}): head (judge_node), learner (learner_node), sampler (sampler_node) that sees an
    empty tmpfs at `hidden`."""
    from ray.cluster_utils import Cluster

    temp_dir = tempfile.mkdtemp(prefix="ray-mn-", dir="/tmp")  # short: socket paths have a length limit
    head = _node_args(judge_node=1) | {"temp_dir": temp_dir, "include_dashboard": True, "dashboard_port": _free_port()}
    cluster = Cluster(initialize_head=True, head_node_args=head)
    session = cluster.head_node.session_name
    sampler = None
    try:
        learner = cluster.add_node(**_node_args(learner_node=1))
        sampler = start_hidden_node(cluster.address, hidden, log_path, "sampler_node")
        nodes = wait_for_nodes(cluster.address, 3, sampler, log_path)
        by_resource = {r: n.node_id for n in nodes for r in n.resources_total if r.endswith("_node")}
        assert by_resource["judge_node"] == cluster.head_node.node_id
        assert by_resource["learner_node"] == learner.node_id
        roles = {"head": cluster.head_node.node_id, "learner": learner.node_id, "sampler": by_resource["sampler_node"]}
        yield cluster, roles
    finally:
        if sampler is not None:
            stop_node(sampler)
        cluster.shutdown()
        kill_ray_under(session)  # whatever is left of this test's Ray, on every node (they share its session)


def _pipeline(out: Path, cache: Path, run_id: str, *extra: str) -> list[str]:
    return [
        sys.executable, str(REPO / "jobs" / "pipeline.py"), "--config", str(TINY), "--run-id", run_id,
        "--set", f"output_dir={out}",
        "--set", "resources.sampler.node_resource=sampler_node",
        "--set", "resources.trainer.node_resource=learner_node",
        "--set", "resources.judge_node_resource=judge_node",
        "--set", "resources.adapter_transport=auto",  # must find that the sampler node cannot see output_dir
        "--set", f"resources.adapter_cache_dir={cache}",
        "--set", "loop.mode=stream",
        "--set", "training.preference.max_steps=null",  # practise on every problem: the counts are the plan's
        # SFT stays on: its adapter is what the round's sampler must receive; one evaluation at the end.
        "--set", "eval.after_every_stage=false", "--set", "eval.limit=2",
        *extra,
    ]  # fmt: skip


def _actor_nodes(address: str, class_name: str) -> set[str]:
    from ray.util.state import list_actors

    actors = list_actors(address=address, filters=[("class_name", "=", class_name)], raise_on_missing_output=False)
    return {a.node_id for a in actors}


@pytest.mark.skipif(not _can_unshare(), reason="needs mount namespaces (root, unshare) to hide output_dir")
def test_stream_iteration_on_three_nodes_with_adapters_through_the_object_store(tmp_path, kill_ray_under):
    out, cache, run_id = tmp_path / "runs", tmp_path / "sampler-node-cache", "multinode"
    out.mkdir()
    root = out / run_id
    env = {k: v for k, v in os.environ.items() if k != "RAY_TMPDIR"}
    with three_nodes(out, tmp_path / "sampler-node.log", kill_ray_under) as (cluster, nodes):
        env["RAY_ADDRESS"] = cluster.address
        started = time.monotonic()
        run = subprocess.run(_pipeline(out, cache, run_id), env=env, capture_output=True, text=True, timeout=900)
        seconds = time.monotonic() - started
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
        # Placement, from Ray's state API: every engine on the sampler node, every learner worker on the learner's.
        assert _actor_nodes(cluster.address, "AsyncGenerationEngine") == {nodes["sampler"]}
        assert _actor_nodes(cluster.address, "RayTrainWorker") == {nodes["learner"]}

    driver_log = (root / "logs" / "driver.log").read_text()
    assert "adapter transport auto: object_store" in driver_log, driver_log[-3000:]
    # The adapters reached the sampler node through the object store: SFT's (the round's policy) and the round's
    # (the final evaluation), each written once into the node's cache.
    manifest = json.loads((root / "manifest.json").read_text())["stages"]
    cached = sorted(p.name for p in cache.iterdir() if (p / "adapter_config.json").is_file())
    assert len(cached) == 2 and all(name.startswith("adapter-") for name in cached), cached
    assert manifest["iter-1"]["status"] == "done"
    from orca_ray.distributed.telemetry import read_metrics

    arrivals = [r for r in read_metrics(root) if "adapter/transport_seconds" in r]
    assert len(arrivals) == 2 and all(r["adapter/nodes_reached"] == 1 for r in arrivals), arrivals
    # Rows per problem against the plan: every training problem sampled exactly sampling.n times.
    train = read_rows(root / "problems" / "train.parquet", Problem)
    verdicts = read_rows(root / "iter-1" / "verdicts", Verdict)
    per_problem = Counter(v.problem_id for v in verdicts)
    assert per_problem == Counter({p.id: 2 for p in train})
    assert len({(v.problem_id, v.sample_index) for v in verdicts}) == len(verdicts)
    delivery = max(r["adapter/delivery_seconds"] for r in arrivals)
    print(f"run {seconds:.0f} s; adapter to the sampler node: at most {delivery:.2f} s")
