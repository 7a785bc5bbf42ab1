"""Scheduling decisions, made in one module from the config."""

from orca_ray.config import load_config
from orca_ray.distributed.resources import (
    engine_actor_options,
    engine_placement_bundles,
    forwarding_stage_options,
    local_num_cpus,
    trainer_scaling,
    training_precision,
)


def test_local_ray_oversubscribes_small_machines():
    cfg = load_config(None)
    assert local_num_cpus(cfg.resources, cores=2) == 8
    assert local_num_cpus(cfg.resources, cores=16) == 64
    assert local_num_cpus(load_config(None, ["resources.num_cpus=3"]).resources, cores=2) == 3


def test_tensor_parallel_engine_uses_a_placement_group():
    cfg = load_config("jobs/configs/orca-math-7b.yaml")
    teacher = cfg.resources.teacher
    assert engine_actor_options(teacher)["num_gpus"] == 0
    bundles = engine_placement_bundles(teacher)
    assert len(bundles) == 4 and all(b["GPU"] == 1.0 for b in bundles)
    assert engine_actor_options(cfg.resources.sampler) == {"num_cpus": 4, "num_gpus": 1}
    assert engine_placement_bundles(cfg.resources.sampler) is None


def test_trainer_scaling_and_precision_follow_devices():
    cpu = load_config(None)
    assert trainer_scaling(cpu.resources.trainer) == {
        "num_workers": 1,
        "use_gpu": False,
        "resources_per_worker": {"CPU": 0.5},
    }
    assert training_precision(cpu, cpu_flags=frozenset({"avx2", "fma"})) == "fp32"
    assert training_precision(cpu, cpu_flags=frozenset({"avx2", "amx_bf16"})) == "bf16"  # native bf16: as vLLM
    assert training_precision(cpu, cpu_flags=frozenset()) == "fp32"  # flags unknown (not Linux)
    forced = load_config(None, ["training.precision=fp32"])
    assert training_precision(forced, cpu_flags=frozenset({"avx512_bf16"})) == "fp32"
    gpu = load_config("jobs/configs/orca-math-7b.yaml")
    assert trainer_scaling(gpu.resources.trainer)["use_gpu"] is True
    assert training_precision(gpu) == "bf16"


def test_forwarding_stages_keep_shards_in_flight_per_engine():
    # Tasks, one shard each: with an actor pool and Ray Data's default of two tasks per actor, the first worker to
    # start took both shards and generated them one after the other.
    from ray.data import TaskPoolStrategy

    resources = load_config(None, ["resources.sampler.actors=3"]).resources
    options = forwarding_stage_options(resources, resources.sampler)
    assert isinstance(options["compute"], TaskPoolStrategy) and options["compute"].size == 3 * 4
    resources = load_config(None, ["resources.teacher.actors=2", "resources.teacher.shards_in_flight=1"]).resources
    assert forwarding_stage_options(resources, resources.teacher)["compute"].size == 2


def test_stage_workers_cover_every_task_a_round_runs_at_once():
    from orca_ray.distributed.resources import stage_task_slots

    # Symbolic teacher: 4 sampler tasks, 1 rule judge, 1 more (the next shard's read or the staleness filter).
    assert stage_task_slots(load_config(None)) == 4 + 1 + 1
    llm = ["teacher.backend=vllm", "teacher.model=tiny-llama", "resources.teacher.shards_in_flight=2"]
    # An LLM teacher adds its solver tasks and a second judge task (the LLM tier).
    assert stage_task_slots(load_config(None, llm)) == 4 + 2 + 2 + 1


def test_reserved_cpus_reach_the_engine_and_its_environment(monkeypatch):
    from orca_ray.distributed import engine
    from orca_ray.distributed.resources import student_engine_spec, teacher_engine_spec

    cfg = load_config(None, ["resources.sampler.reserved_cpus=1", "resources.teacher.reserved_cpus=2"])
    spec = student_engine_spec(cfg, "/models/student")
    assert spec.reserved_cpus == 1
    assert teacher_engine_spec(cfg, "/models/teacher").reserved_cpus == 2
    # A configured value wins over whatever the environment held.
    monkeypatch.setenv("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
    engine._set_threads(spec)
    assert engine.os.environ["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "1"
    # Unset, a small machine gives both cores to the model; a larger one keeps vLLM's default.
    auto = student_engine_spec(load_config(None), "/models/student")
    assert auto.reserved_cpus is None
    monkeypatch.delenv("VLLM_CPU_NUM_OF_RESERVED_CPU")
    monkeypatch.setattr(engine.os, "cpu_count", lambda: 2)
    engine._set_threads(auto)
    assert engine.os.environ["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "0"
    monkeypatch.delenv("VLLM_CPU_NUM_OF_RESERVED_CPU")
    monkeypatch.setattr(engine.os, "cpu_count", lambda: 32)
    engine._set_threads(auto)
    assert "VLLM_CPU_NUM_OF_RESERVED_CPU" not in engine.os.environ


def test_cpu_engines_without_native_bf16_run_auto_as_float32():
    from orca_ray.distributed.engine import cpu_engine_dtype, cpu_flags

    avx2 = cpu_flags("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu avx2\n")
    sapphire = cpu_flags("flags\t\t: avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n")
    graviton = cpu_flags("Features\t: fp asimd bf16 i8mm\n")
    assert "avx2" in avx2 and "avx512_bf16" not in avx2
    assert cpu_engine_dtype("auto", avx2) == "float32"
    assert cpu_engine_dtype("auto", sapphire) == cpu_engine_dtype("auto", graviton) == "auto"
    assert cpu_engine_dtype("bfloat16", avx2) == "bfloat16"  # an explicit dtype is the user's choice
    assert cpu_engine_dtype("auto", frozenset()) == "auto"  # flags unknown: vLLM decides


def test_teacher_memory_share_fits_beside_the_student_on_cpu():
    # Guards issue 25: the teacher's default of 0.9 of host RAM on CPU, beside the student's 0.3, failed at start.
    from orca_ray.distributed.resources import teacher_engine_spec, teacher_memory_share

    vllm_teacher = ["teacher.backend=vllm", "teacher.model=tiny-llama"]
    cpu = load_config("jobs/configs/tiny.yaml", vllm_teacher)
    assert cpu.teacher.gpu_memory_utilization is None
    share = teacher_memory_share(cpu)
    assert share == 0.15 and share + cpu.student.gpu_memory_utilization < 0.5
    assert teacher_engine_spec(cpu, "/m").gpu_memory_utilization == 0.15
    gpu = load_config(None, [*vllm_teacher, "resources.teacher.gpus_per_actor=1"])
    assert teacher_memory_share(gpu) == 0.9
    chosen = load_config(None, [*vllm_teacher, "teacher.gpu_memory_utilization=0.2"])
    assert teacher_engine_spec(chosen, "/m").gpu_memory_utilization == 0.2
    # A config that sets it keeps it (the 70B recipe asks for 0.9 of each GPU).
    assert teacher_memory_share(load_config("jobs/configs/orca-math-7b.yaml")) == 0.9
