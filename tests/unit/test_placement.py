"""Placement by config (resources.*.node_resource) and the adapter transport's pure parts, without a cluster (the
multi-node run itself is tests/integration/test_multinode.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml

from orca_ray.config import load_config
from orca_ray.distributed import policy_versions as pv
from orca_ray.distributed.resources import (
    NODE_RESOURCE_NAMES,
    NODE_RESOURCE_SHARE,
    engine_actor_options,
    engine_placement_bundles,
    forwarding_stage_options,
    judge_stage_options,
    trainer_scaling,
)

REPO = Path(__file__).resolve().parents[2]
PINNED = [
    "resources.sampler.node_resource=sampler_node",
    "resources.teacher.node_resource=teacher_node",
    "resources.trainer.node_resource=learner_node",
    "resources.judge_node_resource=judge_node",
]


def test_each_stage_asks_for_its_node_resource():
    res = load_config(None, PINNED).resources
    assert engine_actor_options(res.sampler)["resources"] == {"sampler_node": NODE_RESOURCE_SHARE}
    assert engine_actor_options(res.teacher)["resources"] == {"teacher_node": NODE_RESOURCE_SHARE}
    assert trainer_scaling(res.trainer)["resources_per_worker"] == {"CPU": 0.5, "learner_node": NODE_RESOURCE_SHARE}
    # The tasks that write a round's files stay on the nodes that see output_dir.
    assert forwarding_stage_options(res, res.sampler)["resources"] == {"judge_node": NODE_RESOURCE_SHARE}
    assert judge_stage_options(res, llm_tier=True)["resources"] == {"judge_node": NODE_RESOURCE_SHARE}


def test_unpinned_stages_ask_for_no_custom_resource():
    res = load_config(None).resources
    assert "resources" not in engine_actor_options(res.sampler)
    assert "resources" not in forwarding_stage_options(res, res.sampler)
    assert trainer_scaling(res.trainer)["resources_per_worker"] == {"CPU": 0.5}


def test_tensor_parallel_group_carries_the_node_resource_in_its_first_bundle():
    res = load_config("jobs/configs/orca-math-7b.yaml", ["resources.teacher.node_resource=teacher_node"]).resources
    bundles = engine_placement_bundles(res.teacher)
    assert bundles[0]["teacher_node"] == NODE_RESOURCE_SHARE and all("teacher_node" not in b for b in bundles[1:])
    # The actor runs inside the group: asking for the resource again would not fit the bundle.
    assert "resources" not in engine_actor_options(res.teacher)


def _launcher_resources(path: Path) -> set[str]:
    types = yaml.safe_load(path.read_text())["available_node_types"].values()
    return {name for node in types for name in node.get("resources", {})}


def _kuberay_resources(path: Path) -> set[str]:
    spec = yaml.safe_load(path.read_text())["spec"]
    spec = spec.get("rayClusterSpec", spec)
    names = set()
    for group in spec["workerGroupSpecs"]:
        text = group["rayStartParams"].get("resources", '"{}"')
        names |= set(json.loads(text.strip('"').replace('\\"', '"')))
    return names


@pytest.mark.parametrize("name", ["aws.yaml", "gcp.yaml", "kuberay/raycluster.yaml", "kuberay/rayjob.yaml"])
def test_cluster_files_name_their_node_types_as_the_config_does(name):
    path = REPO / "cluster" / name
    declared = _kuberay_resources(path) if name.startswith("kuberay") else _launcher_resources(path)
    assert set(NODE_RESOURCE_NAMES.values()) <= declared, declared


# ---------------------------------------------------------------- adapter transport


def _adapter(root: Path, weights: bytes = b"w" * 1000) -> Path:
    root.mkdir(parents=True)
    (root / "adapter_config.json").write_text('{"r": 4}')
    (root / "adapter_model.safetensors").write_bytes(weights)
    return root


def _shipment(source: Path, cache: Path) -> pv.AdapterShipment:
    files = pv.read_adapter_files(source)

    async def fetch():  # what awaiting the ObjectRef does inside an engine actor
        return files

    class Ref:
        fetched = 0

        def __await__(self):
            Ref.fetched += 1
            return fetch().__await__()

    return pv.AdapterShipment(str(source), pv.content_key(str(source), files), Ref(), 1016, str(cache))


def test_a_shipped_adapter_is_written_once_per_node_and_loaded_from_there(tmp_path):
    source = _adapter(tmp_path / "run" / "sft" / "adapter")
    shipment = _shipment(source, tmp_path / "node-cache")

    async def arrive_twice():
        # Two shards reaching the engine at once: one fetch, the other waits and finds it written.
        return await asyncio.gather(pv.receive_adapter(shipment), pv.receive_adapter(shipment))

    (first, first_s), (second, second_s) = asyncio.run(arrive_twice())
    assert first == second and Path(first).parent == tmp_path / "node-cache"
    assert sorted(s is None for s in (first_s, second_s)) == [False, True]
    assert type(shipment.files).fetched == 1
    assert pv.read_adapter_files(first) == pv.read_adapter_files(source)
    # A new version (new content) is a new cache entry; a path or None passes through untouched.
    (source / "adapter_model.safetensors").write_bytes(b"v" * 1000)
    assert _shipment(source, tmp_path / "node-cache").key != shipment.key
    assert asyncio.run(pv.receive_adapter(str(source))) == (str(source), None)
    assert asyncio.run(pv.receive_adapter(None)) == (None, None)


def test_shared_path_and_uris_are_handed_over_as_they_are(tmp_path):
    source = str(_adapter(tmp_path / "adapter"))
    assert pv.AdapterTransport(pv.SHARED_PATH).ship(source) == source
    assert pv.AdapterTransport(pv.OBJECT_STORE).ship("s3://bucket/run/adapter") == "s3://bucket/run/adapter"
    assert pv.AdapterTransport(pv.OBJECT_STORE).ship(None) is None
    assert pv.deliver_adapter(pv.AdapterTransport(), source, engines=[]) == (source, {})


class _Engine:
    def __init__(self, sees: bool):
        self.sees = type("Method", (), {"remote": staticmethod(lambda path: sees and Path(path).is_file())})


@pytest.mark.parametrize(("seen", "mode"), [((True, True), pv.SHARED_PATH), ((True, False), pv.OBJECT_STORE)])
def test_auto_takes_the_shared_path_only_when_every_engine_sees_it(tmp_path, monkeypatch, seen, mode):
    import ray

    monkeypatch.setattr(ray, "get", lambda values: list(values))
    engines = [_Engine(s) for s in seen]
    chosen = pv.choose_transport("auto", str(tmp_path), engines, cache_dir="/local/cache")
    assert chosen == pv.AdapterTransport(mode, "/local/cache")
    assert not list(tmp_path.glob(f"{pv.MARKER_PREFIX}*"))  # the marker is removed
    assert pv.choose_transport("object_store", str(tmp_path), engines).mode == pv.OBJECT_STORE


def test_nodes_that_must_see_output_dir_are_those_that_may_write_there():
    from orca_ray.distributed.resources import nodes_writing_output

    nodes = {"head": {"CPU": 0}, "gpu": {"CPU": 96, "GPU": 8, "learner_node": 1}, "cpu": {"CPU": 32, "judge_node": 1}}
    # Unpinned, any node with CPUs may take a learner worker or a judge task (a CPU-less head takes neither).
    assert nodes_writing_output(load_config(None).resources, nodes) == {
        "gpu": ["learner", "judge"],
        "cpu": ["learner", "judge"],
    }
    pinned = load_config(None, PINNED).resources
    assert nodes_writing_output(pinned, nodes) == {"gpu": ["learner"], "cpu": ["judge"]}
