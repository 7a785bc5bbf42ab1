"""The tiny pipeline on a simulated 3-node Ray cluster on this machine (issue 24): a head with the driver and the
round's Ray Data tasks, a learner node, and a sampler node that cannot see the output directory, so adapters reach
its engine through Ray's object store. Stages are pinned by resources.*.node_resource and checked against Ray's
state API; rows are counted per problem against the plan.

The head and the learner node are `ray.cluster_utils.Cluster` nodes, as in Ray's own tests. The sampler node is
`ray start --address` in a mount namespace of its own where output_dir is an empty tmpfs: a node that really does not
see the directory (the other nodes share this machine's filesystem).

The second test loses nodes: the sampler's node is killed mid-iteration (a replacement joins), then the learner's
node once training has checkpointed; the run finishes, or fails naming the cause and finishes with `--resume`, with
every problem sampled exactly sampling.n times and the learner ending at the step count of an uninterrupted run."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
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


def _is_sampler(node) -> bool:
    return "sampler_node" in node.resources_total


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


def stop_node(node: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(node.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        node.wait(timeout=20)


@dataclass
class SimulatedCluster:
    """Three nodes of this host: head (judge_node), learner (learner_node), sampler (sampler_node), the sampler's
    `hidden` directory an empty tmpfs. Nodes can be lost and replaced, as a cloud cluster loses machines."""

    cluster: object  # ray.cluster_utils.Cluster
    hidden: Path
    log_dir: Path
    roles: dict = field(default_factory=dict)  # head, learner, sampler: the node ids now
    samplers: list = field(default_factory=list)  # the `ray start` processes, the live one last
    learner: object = None

    @property
    def address(self) -> str:
        return self.cluster.address

    def add_sampler_node(self) -> str:
        known = {n.node_id for n in _alive_nodes(self.address)} | {self.roles.get("sampler")}
        log_path = self.log_dir / f"sampler-node-{len(self.samplers)}.log"
        node = start_hidden_node(self.address, self.hidden, log_path, "sampler_node")
        self.samplers.append(node)
        deadline = time.monotonic() + 120
        while not (new := [n for n in _alive_nodes(self.address) if n.node_id not in known and _is_sampler(n)]):
            assert node.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, f"the node did not join: {log_path.read_text()[-3000:]}"
            time.sleep(0.5)
        self.roles["sampler"] = new[0].node_id
        return new[0].node_id

    def kill_sampler_node(self) -> None:
        """SIGKILL every process of the sampler's node (raylet, engine actor, vLLM's workers): a machine gone."""
        node = self.samplers[-1]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.pid, signal.SIGKILL)
        node.wait(timeout=20)

    def replace_learner_node(self) -> None:
        self.cluster.remove_node(self.learner, allow_graceful=False)
        self.learner = self.cluster.add_node(**_node_args(learner_node=1))
        self.roles["learner"] = self.learner.node_id


@contextlib.contextmanager
def three_nodes(hidden: Path, log_dir: Path, kill_ray_under, system_config: dict | None = None):
    """A SimulatedCluster, shut down (every node's processes) on exit."""
    from ray._private.utils import get_ray_address_file
    from ray.cluster_utils import Cluster

    temp_dir = tempfile.mkdtemp(prefix="ray-mn-", dir="/tmp")  # short: socket paths have a length limit
    head = _node_args(judge_node=1) | {"temp_dir": temp_dir, "include_dashboard": True, "dashboard_port": _free_port()}
    if system_config:
        head["_system_config"] = system_config
    # Cluster records its address in Ray's default temp dir, which a fresh machine may not have yet.
    Path(get_ray_address_file(None)).parent.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(initialize_head=True, head_node_args=head)
    session = cluster.head_node.session_name
    nodes = SimulatedCluster(cluster, hidden, log_dir, roles={"head": cluster.head_node.node_id})
    try:
        nodes.learner = cluster.add_node(**_node_args(learner_node=1))
        nodes.roles["learner"] = nodes.learner.node_id
        nodes.add_sampler_node()
        by_resource = {r: n.node_id for n in _alive_nodes(cluster.address) for r in n.resources_total if "_node" in r}
        assert by_resource == {"judge_node": nodes.roles["head"], "learner_node": nodes.roles["learner"],
                               "sampler_node": nodes.roles["sampler"]}, by_resource  # fmt: skip
        yield nodes
    finally:
        for sampler in nodes.samplers:
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
    with three_nodes(out, tmp_path, kill_ray_under) as cluster:
        nodes = cluster.roles
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


# Node loss is noticed by the GCS's health checks: 1 s apart, 2 misses (Ray's defaults take about 15 s).
FAST_NODE_DEATH = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 1000,
    "health_check_failure_threshold": 2,
}


def _registered_checkpoints(train_dir: Path) -> list[str]:
    """The learner's checkpoints that Ray Train has registered (the ones a restart restores), while training runs.
    A checkpoint directory alone is not enough: the worker writes it before the controller records it."""
    snapshot = train_dir / "ray-train" / "run" / "checkpoint_manager_snapshot.json"
    if (train_dir / "train_result.json").exists() or not snapshot.is_file():
        return []
    with contextlib.suppress(ValueError):  # being rewritten
        return [c["checkpoint_dir_name"] for c in json.loads(snapshot.read_text())["checkpoint_results"]]
    return []


@pytest.mark.skipif(not _can_unshare(), reason="needs mount namespaces (root, unshare) to hide output_dir")
def test_lost_sampler_and_learner_nodes_lose_and_duplicate_nothing(tmp_path, kill_ray_under, wait_for):
    out, cache, run_id = tmp_path / "runs", tmp_path / "sampler-node-cache", "node-loss"
    out.mkdir()
    root = out / run_id
    train_dir, verdicts_dir = root / "iter-1" / "train", root / "iter-1" / "verdicts"
    # Barrier mode: the learner trains on the finished round's rows, so a lost learner resumes from its checkpoint
    # (a half-streamed round restarts its training, practice_round.py). No SFT, small shards, a checkpoint per step.
    settings = [
        "--set", "loop.mode=barrier", "--set", "training.sft.enabled=false", "--set", "sampling.batch_size=2",
        "--set", "training.checkpoint_every_steps=1",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "RAY_TMPDIR"}
    pending, runs = ["sampler", "learner"], []  # node losses still to cause, in the order they happen
    with three_nodes(out, tmp_path, kill_ray_under, FAST_NODE_DEATH) as cluster:
        env["RAY_ADDRESS"] = cluster.address
        for attempt in range(3):
            args = _pipeline(out, cache, run_id, *settings, *(["--resume"] if attempt else []))
            log_path = tmp_path / f"driver-{attempt}.log"
            with log_path.open("w") as log:
                driver = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
                if pending[:1] == ["sampler"] and wait_for(
                    lambda: any(verdicts_dir.glob("*.parquet")), driver, 600, "a judged shard", none_if_exited=True
                ):
                    lost = cluster.roles["sampler"]
                    cluster.kill_sampler_node()  # mid-round: a shard judged, the others in flight or to come
                    cluster.add_sampler_node()
                    pending.pop(0)
                    shards = len(list(verdicts_dir.glob("*.parquet")))
                    print(f"run {attempt}: sampler node {lost[:8]} killed after {shards} judged shards")
                if pending[:1] == ["learner"] and (
                    saved := wait_for(
                        lambda: _registered_checkpoints(train_dir), driver, 600, "a checkpoint", none_if_exited=True
                    )
                ):
                    cluster.replace_learner_node()  # mid-training: a checkpoint registered, the last step not done
                    pending.pop(0)
                    print(f"run {attempt}: learner node removed after checkpoints {saved}")
                rc = driver.wait(timeout=900)
            runs.append((rc, log_path.read_text(errors="replace")))
            if rc == 0:
                break
            # A failed run names what was lost (Ray's words: the actor's node died), and leaves the rest to --resume.
            assert re.search(r"node has died|marked dead", runs[-1][1][-6000:]), runs[-1][1][-4000:]
        assert not pending, f"the run ended before losing the {pending[0]} node: {runs[-1][1][-3000:]}"
        assert runs[-1][0] == 0, runs[-1][1][-5000:]
        # The replacement sampler node ran the engine that finished the round (and the final evaluation).
        assert cluster.roles["sampler"] in _actor_nodes(cluster.address, "AsyncGenerationEngine")

    # Zero rows lost or duplicated: every problem exactly sampling.n times, each sample index once.
    train = read_rows(root / "problems" / "train.parquet", Problem)
    verdicts = read_rows(verdicts_dir, Verdict)
    assert Counter(v.problem_id for v in verdicts) == Counter({p.id: 2 for p in train})
    assert len({(v.problem_id, v.sample_index) for v in verdicts}) == len(verdicts)
    # The learner resumed from a checkpoint, not from scratch, and ended at an uninterrupted run's step count.
    from orca_ray.distributed.learner_worker import steps_for
    from orca_ray.schemas import KTOExample

    logs = "\n".join(p.read_text(errors="replace") for p in (root / "logs").glob("*.log"))
    resumed_at = [int(m) for m in re.findall(r"resuming from the checkpoint of step (\d+)", logs)]
    rows = len(read_rows(root / "iter-1" / "preferences", KTOExample))
    result = json.loads((train_dir / "train_result.json").read_text())
    assert resumed_at and 0 < resumed_at[-1] < result["steps"], (resumed_at, result["steps"])
    assert result["steps"] == steps_for(rows, 4, 1, 1)  # tiny.yaml: batch 4, no accumulation, one worker
    logged = [h["step"] for h in result["history"] if "step" in h]
    assert logged == sorted(set(logged)), logged  # no step trained twice
    manifest = json.loads((root / "manifest.json").read_text())["stages"]
    assert manifest["iter-1"]["status"] == "done"
    print(f"runs exited {[rc for rc, _ in runs]}; learner resumed at step {resumed_at[-1]} of {result['steps']}")
