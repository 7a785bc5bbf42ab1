"""Time to bring a new LoRA adapter to every sampler node through Ray's object store (resources.adapter_transport:
object_store), to 1 and to 2 sampler nodes of a simulated cluster on this machine.

The path measured is the pipeline's own (policy_versions.deliver_adapter): the driver packs the adapter's files and
puts them into the object store, each node's receiver (a light actor standing in for the vLLM engine, which calls
the same receive_adapter) fetches them into its node's store and writes them into its cache. Each repetition is a
new version (new content), so nothing is served from a cache. Nodes on one host still copy objects between their
own object stores over TCP, but through loopback: a real network adds its transfer time (a few MB: tens of ms).

    /tmp/heavy.sh .venv/bin/python bench/adapter_transport.py --megabytes 4 32 --repeats 5
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import socket
import statistics
import tempfile
from pathlib import Path

from orca_ray.distributed import policy_versions as pv
from orca_ray.distributed.resources import node_resources


class Receiver:
    """What a sampler engine does with a shipped adapter, without vLLM. The simulated nodes share this host's
    disk, so each writes into a cache of its own, as separate machines would."""

    def __init__(self, node: str):
        self.node = node

    async def receive_adapter(self, adapter):
        own = dataclasses.replace(adapter, cache_dir=str(Path(adapter.cache_dir) / self.node))
        return await pv.receive_adapter(own)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _adapter(directory: Path, megabytes: float, version: int) -> str:
    """A PEFT-shaped directory: its config and a weights file of the given size (new bytes each version)."""
    directory.mkdir(parents=True)
    (directory / "adapter_config.json").write_text(f'{{"r": 16, "version": {version}}}')
    (directory / "adapter_model.safetensors").write_bytes(os.urandom(int(megabytes * 1e6)))
    return str(directory)


def measure(receivers: list, work: Path, megabytes: float, repeats: int, cache: Path) -> list[float]:
    transport = pv.AdapterTransport(pv.OBJECT_STORE, str(cache))
    seconds = []
    for version in range(repeats):
        source = _adapter(work / f"{megabytes:g}mb-{len(receivers)}n" / f"v{version:04d}", megabytes, version)
        _, figures = pv.deliver_adapter(transport, source, receivers)
        assert figures["adapter/nodes_reached"] == len(receivers), figures
        seconds.append(figures["adapter/delivery_seconds"])
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, nargs="+", default=[4.0, 32.0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import ray
    from ray.cluster_utils import Cluster

    temp_dir = tempfile.mkdtemp(prefix="ray-bt-", dir="/tmp")
    work = Path(tempfile.mkdtemp(prefix="adapter-transport-"))
    head = {"num_cpus": 1, "temp_dir": temp_dir, "dashboard_agent_listen_port": _free_port()}
    cluster = Cluster(initialize_head=True, head_node_args=head)
    try:
        for index in range(2):
            agent = _free_port()
            cluster.add_node(num_cpus=1, resources={f"sampler_{index}": 1}, dashboard_agent_listen_port=agent)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address)
        actor = ray.remote(Receiver)
        names = [f"sampler_{i}" for i in range(2)]
        receivers = [actor.options(num_cpus=0, resources=node_resources(n)).remote(n) for n in names]
        results = {}
        for megabytes in args.megabytes:
            for nodes in (1, 2):
                cache = work / "caches" / f"{megabytes:g}-{nodes}"
                measure(receivers[:nodes], work / "warmup", megabytes, 1, cache)  # first object transfer: connections
                seconds = measure(receivers[:nodes], work, megabytes, args.repeats, cache)
                results[(megabytes, nodes)] = statistics.median(seconds)
                print(f"{megabytes:g} MB to {nodes} sampler node(s): median {results[(megabytes, nodes)]:.3f} s "
                      f"(min {min(seconds):.3f}, max {max(seconds):.3f}, {args.repeats} versions)")  # fmt: skip
    finally:
        ray.shutdown()
        cluster.shutdown()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(temp_dir, ignore_errors=True)
    first = args.megabytes[0]
    print(f"mb={first:g} to_1_node_s={results[(first, 1)]:.3f} to_2_nodes_s={results[(first, 2)]:.3f}")


if __name__ == "__main__":
    main()
