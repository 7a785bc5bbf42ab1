"""All scheduling decisions: CPUs, GPUs, placement and concurrency of every stage, derived from the config.

No other module names a resource amount; they ask here. Pure functions, so the decisions are unit-tested.
"""

from __future__ import annotations

import os

from orca_ray.config import EngineResources, ResourcesConfig, RunConfig, TrainerResources


def local_num_cpus(resources: ResourcesConfig, cores: int | None = None) -> int:
    """Logical CPUs for a local Ray: oversubscribed, because on 2 cores an engine actor, a judge and a training
    worker each holding a whole CPU would leave Ray Data no room and the pipeline would wait forever."""
    if resources.num_cpus is not None:
        return resources.num_cpus
    cores = cores or os.cpu_count() or 2
    return max(8, 4 * cores)


# What one actor, worker or task asks of a node's custom placement resource (`*.node_resource`): a sliver, so a
# node that declares 1 of it (the cluster files do) takes any number of them, and only such nodes take them.
NODE_RESOURCE_SHARE = 0.001
# The names the cluster files (cluster/aws.yaml, gcp.yaml, kuberay/raycluster.yaml) give their node types, for
# resources.sampler/teacher/trainer.node_resource and resources.judge_node_resource.
NODE_RESOURCE_NAMES = {
    "sampler": "sampler_node",
    "teacher": "teacher_node",
    "trainer": "learner_node",
    "judge": "judge_node",
}


def node_resources(name: str | None) -> dict[str, float]:
    """The custom resources that pin an actor, worker or task to the nodes carrying `name` (none: any node).

    >>> node_resources("sampler_node"), node_resources(None)
    ({'sampler_node': 0.001}, {})
    """
    return {name: NODE_RESOURCE_SHARE} if name else {}


def nodes_writing_output(resources: ResourcesConfig, nodes: dict[str, dict]) -> dict[str, list[str]]:
    """Of a cluster's nodes ({node_id: its resources}), those that may run a stage writing under output_dir, with
    those stages: the learner's workers (Ray Train checkpoints, published adapters) and a round's Ray Data tasks
    (verdicts, preferences, metrics). A node qualifies when it has CPUs and carries the stage's node resource (any
    node with CPUs when none is set). Sampler engines write nothing there.

    >>> res = ResourcesConfig(trainer={"node_resource": "learner_node"}, judge_node_resource="judge_node")
    >>> nodes = {"h": {"CPU": 2, "judge_node": 1}, "s": {"CPU": 2}, "l": {"CPU": 2, "learner_node": 1}}
    >>> nodes_writing_output(res, nodes)
    {'h': ['judge'], 'l': ['learner']}
    """
    stages = {"learner": resources.trainer.node_resource, "judge": resources.judge_node_resource}
    writers: dict[str, list[str]] = {}
    for node, offered in nodes.items():
        if offered.get("CPU", 0) <= 0:
            continue
        roles = [stage for stage, name in stages.items() if name is None or offered.get(name, 0) > 0]
        if roles:
            writers[node] = roles
    return writers


def node_probe_options(node_id: str) -> dict:
    """Ray options of a zero-CPU task pinned to one node (the start-up check that a node sees output_dir): it
    must run on that node even while its CPUs are taken."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return {"num_cpus": 0, "scheduling_strategy": NodeAffinitySchedulingStrategy(node_id, soft=False)}


def engine_actor_options(engine: EngineResources) -> dict:
    """Ray actor options for one vLLM engine actor (sampler or teacher).

    With tensor parallel on GPUs, the actor itself holds no GPU: vLLM's Ray executor places one worker per GPU
    in a placement group (see `engine_placement_bundles`), whose first bundle also carries the node resource."""
    if engine.tensor_parallel_size > 1:
        return {"num_cpus": engine.cpus_per_actor, "num_gpus": 0}
    options = {"num_cpus": engine.cpus_per_actor, "num_gpus": engine.gpus_per_actor}
    if engine.node_resource:
        options["resources"] = node_resources(engine.node_resource)
    return options


def engine_placement_bundles(engine: EngineResources) -> list[dict] | None:
    """Bundles of the placement group for a tensor-parallel engine (one GPU per bundle), else None. The group is
    STRICT_PACK (one node), so the node resource in the first bundle places all of it."""
    if engine.tensor_parallel_size <= 1:
        return None
    first = {"CPU": engine.cpus_per_actor, "GPU": 1.0} | node_resources(engine.node_resource)
    return [first] + [{"GPU": 1.0}] * (engine.tensor_parallel_size - 1)


def trainer_scaling(trainer: TrainerResources) -> dict:
    """Keyword arguments of ray.train.ScalingConfig for the learner."""
    use_gpu = trainer.gpus_per_worker > 0
    per_worker = {"CPU": trainer.cpus_per_worker} | node_resources(trainer.node_resource)
    if use_gpu:
        per_worker["GPU"] = trainer.gpus_per_worker
    return {"num_workers": trainer.workers, "use_gpu": use_gpu, "resources_per_worker": per_worker}


def worker_threads(torch_threads: int | None, cpu_affinity: list[int] | tuple[int, ...] | None) -> int | None:
    """torch threads for a process pinned to `cpu_affinity`: never more than the cores it may run on. Two OpenMP
    threads time-sliced on one core wait for each other at every parallel region: bench/overlap.py's learner,
    pinned to one core with the demo's torch_threads 2, trained KTO at 13 tok/s (2026-12-07).

    >>> worker_threads(2, [1]), worker_threads(2, None), worker_threads(None, [0, 1]), worker_threads(4, (0, 1))
    (1, 2, None, 2)
    """
    if torch_threads and cpu_affinity:
        return min(torch_threads, len(cpu_affinity))
    return torch_threads


def pin_process(cpu_affinity: tuple[int, ...] | None, torch_threads: int | None) -> None:
    """In an engine actor or a learner worker: pin this process to `cpu_affinity` (benchmarks; None: the OS
    schedules) and run `torch_threads` torch threads, at most one per pinned core (worker_threads)."""
    if cpu_affinity:
        os.sched_setaffinity(0, set(cpu_affinity))
    if threads := worker_threads(torch_threads, cpu_affinity):
        import torch

        torch.set_num_threads(threads)


def training_precision(config: RunConfig, cpu_flags: frozenset[str] | None = None) -> str:
    """'bf16' on GPU and on a CPU with native bf16 arithmetic (AVX512-BF16, AMX, Arm BF16), else 'fp32', unless
    the config says otherwise. `cpu_flags`: the learner host's (default: this machine's, which is the learner's on
    a local Ray; on a cluster of other CPUs set training.precision). Measured on a 2-core Xeon with AMX, SmolLM2
    LoRA SFT at batch 8: bf16 about 1.3x faster a step than fp32 (bench/training.py --precision fp32 bf16)."""
    if config.training.precision != "auto":
        return config.training.precision
    if config.resources.trainer.gpus_per_worker > 0:
        return "bf16"
    from orca_ray.distributed.engine import NATIVE_BF16_FLAGS, host_cpu_flags

    flags = host_cpu_flags() if cpu_flags is None else cpu_flags
    return "bf16" if flags & NATIVE_BF16_FLAGS else "fp32"


def student_engine_spec(config: RunConfig, model_dir: str):
    """The vLLM engine of a student sampler (LoRA on, so adapters can be swapped in between batches)."""
    from orca_ray.distributed.engine import EngineSpec

    student, res = config.student, config.resources
    return EngineSpec(
        model_dir=model_dir,
        dtype=student.dtype,
        max_model_len=student.max_model_len,
        gpu_memory_utilization=student.gpu_memory_utilization,
        enable_lora=config.training.finetune == "lora",
        max_lora_rank=max(student.max_lora_rank, config.training.lora.r),
        tensor_parallel_size=res.sampler.tensor_parallel_size,
        distributed_executor_backend="ray" if res.sampler.tensor_parallel_size > 1 else None,
        seed=config.sampling.seed,
        trust_remote_code=student.trust_remote_code,
        enforce_eager=student.enforce_eager,
        torch_threads=res.torch_threads,
        cpu_affinity=tuple(res.sampler.cpu_affinity) if res.sampler.cpu_affinity else None,
        reserved_cpus=res.sampler.reserved_cpus,
        setting="student",
    )


# The teacher engine's share of memory when teacher.gpu_memory_utilization is None. On a GPU it has the device to
# itself. On CPU vLLM reserves the share of host RAM up front, beside the student's engine (0.3 by default): 0.9
# cannot fit there, and 0.15 (3.6 GiB of 24) ran the tiny pipeline with a vLLM teacher.
TEACHER_MEMORY_SHARE_GPU = 0.9
TEACHER_MEMORY_SHARE_CPU = 0.15


def teacher_memory_share(config: RunConfig) -> float:
    """teacher.gpu_memory_utilization, or its default for the device the teacher's engine is placed on."""
    if config.teacher.gpu_memory_utilization is not None:
        return config.teacher.gpu_memory_utilization
    return TEACHER_MEMORY_SHARE_GPU if config.resources.teacher.gpus_per_actor > 0 else TEACHER_MEMORY_SHARE_CPU


def teacher_engine_spec(config: RunConfig, model_dir: str):
    """The vLLM engine of an in-cluster teacher (no LoRA; tensor parallel over a placement group on GPUs)."""
    from orca_ray.distributed.engine import EngineSpec

    teacher, res = config.teacher, config.resources
    return EngineSpec(
        model_dir=model_dir,
        dtype=teacher.dtype,
        max_model_len=teacher.max_model_len,
        gpu_memory_utilization=teacher_memory_share(config),
        enable_lora=False,
        tensor_parallel_size=res.teacher.tensor_parallel_size,
        distributed_executor_backend="ray" if res.teacher.tensor_parallel_size > 1 else None,
        seed=config.seed,
        trust_remote_code=teacher.trust_remote_code,
        enforce_eager=teacher.enforce_eager,
        torch_threads=res.torch_threads,
        cpu_affinity=tuple(res.teacher.cpu_affinity) if res.teacher.cpu_affinity else None,
        reserved_cpus=res.teacher.reserved_cpus,
        setting="teacher",
    )


# Requests one engine actor accepts at once: enough for every Ray Data worker feeding it, so vLLM batches them.
ENGINE_MAX_CONCURRENCY = 256
# An engine actor that dies (a killed process, a lost node, a crashed vLLM) is restarted in place and its in-flight
# requests are sent again, so a round loses no samples; a fault that repeats stops the run after these counts.
ENGINE_MAX_RESTARTS = 2
ENGINE_MAX_TASK_RETRIES = 2


def forwarding_stage_options(resources: ResourcesConfig, engines: EngineResources) -> dict:
    """Ray Data map_batches options of a stage whose tasks forward shards to engine actors: a light CPU share, and
    `shards_in_flight` shards per engine, so that its batch stays full while a finished shard is replaced. Tasks,
    not an actor pool (see orca_ray.distributed.stages): each task holds exactly one shard, where an actor pool
    with Ray Data's default of two tasks per actor let the first worker that was ready queue both shards and send
    them to the engine one after the other (measured: SmolLM2 on 2 cores, 2 shards, 130 s instead of 66 s)."""
    from ray.data import TaskPoolStrategy

    size = engines.shards_in_flight * engines.actors  # both at least 1 (config)
    return {"num_cpus": resources.judge_cpus, "compute": TaskPoolStrategy(size=size)} | _stage_task_placement(resources)


def _stage_task_placement(resources: ResourcesConfig) -> dict:
    """A round's Ray Data tasks write its files (verdicts, preferences, metrics): resources.judge_node_resource
    keeps them on nodes that see output_dir."""
    pinned = node_resources(resources.judge_node_resource)
    return {"resources": pinned} if pinned else {}


def stage_task_slots(config: RunConfig) -> int:
    """Ray Data tasks a round runs at once at most: the sampler's, the teacher solver's, the judge's and one more
    (the next shard's read, or async mode's staleness filter); what `cluster.start_stage_workers` starts."""
    res = config.resources
    sampler = forwarding_stage_options(res, res.sampler)["compute"].size
    llm_teacher = config.teacher.backend != "symbolic"
    solver = forwarding_stage_options(res, res.teacher)["compute"].size if llm_teacher else 0
    judge = judge_stage_options(res, llm_teacher and config.judge.llm_tier)["compute"].size
    return sampler + solver + judge + 1


def judge_stage_options(resources: ResourcesConfig, llm_tier: bool) -> dict:
    """The judge: rules are cheap (one shard at a time); with an LLM tier, two at once keep the teacher busy."""
    from ray.data import TaskPoolStrategy

    options = {"num_cpus": resources.judge_cpus, "compute": TaskPoolStrategy(size=2 if llm_tier else 1)}
    return options | _stage_task_placement(resources)


# One synthesis worker drives at most this many agent conversations: they mostly wait on models (asyncio).
CONVERSATIONS_PER_SYNTHESIS_WORKER = 32


def synthesis_stage_plan(config: RunConfig, pending_shards: int) -> dict:
    """The synthesis job's Ray Data actor pool: how many workers, how many conversations each holds at once (all
    of them together at most synthesis.max_concurrent_conversations), and map_batches options (a light CPU share:
    the models run in engine actors or behind an endpoint)."""
    from ray.data import ActorPoolStrategy

    total = config.synthesis.max_concurrent_conversations
    workers = max(1, min(pending_shards, -(-total // CONVERSATIONS_PER_SYNTHESIS_WORKER)))
    return {
        "conversations_per_worker": max(1, total // workers),
        "options": {"num_cpus": config.resources.judge_cpus, "compute": ActorPoolStrategy(size=workers)},
    }
