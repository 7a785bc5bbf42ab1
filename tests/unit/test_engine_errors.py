"""An engine that cannot start says why in one line, with the setting to change (issue 25: the caller saw only
"Engine core initialization failed. See root cause above" while the cause was the teacher's share of host RAM)."""

import dataclasses
import doctest

from orca_ray.config import RunConfig
from orca_ray.distributed import engine, engine_pool
from orca_ray.distributed.engine import GIB, explain_start_failure
from orca_ray.distributed.engine_pool import start_failure_line
from orca_ray.distributed.resources import student_engine_spec


def _spec(model_dir: str = "/m", **fields):
    """The default config's student engine, with `fields` changed."""
    return dataclasses.replace(student_engine_spec(RunConfig(), model_dir), **fields)


VLLM_INIT_FAILED = RuntimeError("Engine core initialization failed. See root cause above. Failed core proc(s): {}")


def test_reservation_larger_than_free_ram_names_the_setting_and_a_value_that_fits():
    spec = _spec("/models/teacher", gpu_memory_utilization=0.9, setting="teacher")
    message = explain_start_failure(VLLM_INIT_FAILED, spec, host_memory=(24 * GIB, 10 * GIB))
    assert "\n" not in message
    assert message.startswith(
        "teacher engine for /models/teacher failed to start: on CPU teacher.gpu_memory_utilization=0.9"
    )
    assert "21.6 GiB" in message and "10.0 of 24.0 GiB are free" in message
    assert "set teacher.gpu_memory_utilization to 0.37 or less" in message
    assert "Engine core initialization failed" in message  # vLLM's own words follow


def test_a_reservation_that_fits_points_elsewhere():
    spec = _spec(gpu_memory_utilization=0.15, setting="teacher")
    message = explain_start_failure(VLLM_INIT_FAILED, spec, host_memory=(24 * GIB, 10 * GIB))
    assert "gpu_memory_utilization=" not in message and "engine's output above" in message
    oom = explain_start_failure(RuntimeError("CUDA out of memory.\nTried to allocate"), _spec())
    assert "\n" not in oom and "student.max_model_len (now 1024)" in oom
    lora = explain_start_failure(ValueError("LoRA rank 128 is greater than max_lora_rank 64"), _spec())
    assert "student.max_lora_rank (now 64)" in lora


def test_a_context_longer_than_the_models_names_the_setting_and_the_models_length():
    # vLLM 0.x's words when teacher.max_model_len (default 4096) exceeds a 2048-token model's (seen here).
    err = ValueError(
        "1 validation error for ModelConfig\n  Value error, User-specified max_model_len (4096) is greater than the "
        "derived max_model_len (max_position_embeddings=2048.0 or model_max_length=None in model's config.json)."
    )
    message = explain_start_failure(err, _spec(max_model_len=4096, setting="teacher"))
    assert "teacher.max_model_len (now 4096) is longer than the model's context (2048 tokens)" in message
    assert "gpu_memory_utilization" not in message


def test_the_caller_gets_the_engine_error_line_out_of_rays_actor_error():
    # The text of Ray 2.60's ActorDiedError for an exception raised in an actor's __init__ (seen here).
    text = (
        "The actor died because of an error raised in its creation task, ray::A.__init__() (pid=1, ip=10.0.0.1)\n"
        '  File "engine.py", line 7, in __init__\n'
        "orca_ray.errors.EngineError: teacher engine for /m failed to start: on CPU ... free host memory. vLLM said: x"
    )
    assert (
        start_failure_line(text) == "teacher engine for /m failed to start: on CPU ... free host memory. vLLM said: x"
    )
    assert start_failure_line("The actor died unexpectedly before finishing this task.") is None


def test_docstring_examples():
    for module in (engine, engine_pool):
        failures, _ = doctest.testmod(module)
        assert failures == 0
