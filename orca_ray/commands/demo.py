"""`orca-ray demo`: the embedded default on this machine (SmolLM2 student, no network).

Until the whole loop lands, the demo prepares the embedded student and has vLLM, in a Ray actor, answer a
handful of built-in problems.
"""

from __future__ import annotations

import time

from orca_ray.config import load_config

PROBLEMS = (
    ("Tom has 16 apples and eats 3 of them. How many apples does he have left?", "13"),
    ("A pencil costs 2 dollars. How much do 7 pencils cost, in dollars?", "14"),
    ("Sara shares 24 stickers equally among 4 friends. How many stickers does each friend get?", "6"),
    ("A train travels 60 miles per hour for 3 hours. How many miles does it travel?", "180"),
    ("Ben had 45 marbles, won 12 more, then gave 20 away. How many marbles does he have now?", "37"),
)


def main(args) -> int:
    import ray

    from orca_ray.distributed.cluster import init_ray, shutdown_ray
    from orca_ray.distributed.engine import GenerationEngine
    from orca_ray.distributed.resources import engine_actor_options, student_engine_spec
    from orca_ray.models import prepare_model

    config = load_config(args.config, args.overrides)
    model_dir = prepare_model(config.student.model)
    print(f"student: {config.student.model} -> {model_dir}")
    init_ray(config.resources)
    try:
        engine_cls = ray.remote(GenerationEngine).options(**engine_actor_options(config.resources.sampler))
        engine = engine_cls.remote(student_engine_spec(config, str(model_dir)))
        print(f"vLLM engine started in {ray.get(engine.ready.remote()):.1f} s")
        conversations = [[{"role": "user", "content": question}] for question, _ in PROBLEMS]
        started = time.perf_counter()
        results = ray.get(engine.chat.remote(conversations, {"temperature": 0.0, "max_tokens": 96}))
        elapsed = time.perf_counter() - started
        tokens = 0
        for (question, expected), (completion,) in zip(PROBLEMS, results, strict=True):
            tokens += completion.num_tokens
            print(f"\nQ: {question}\nexpected: {expected}\nSmolLM2: {completion.text.strip()}")
        print(f"\n{len(PROBLEMS)} answers, {tokens} tokens in {elapsed:.1f} s ({tokens / elapsed:.0f} tok/s)")
    finally:
        shutdown_ray()
    return 0
