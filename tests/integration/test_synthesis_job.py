"""The synthesis job on Ray Data with a scripted model inside the worker actors: shards, counts through every
filter, the yield summary, and resume (a run that dies after its first shard, run again, does not redo it and
holds no duplicate problem)."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import sys
import time
from pathlib import Path

import pytest

from orca_ray import cli
from orca_ray.agents import prompts
from orca_ray.agents.clients import ClientFactory, scripted_client
from orca_ray.commands.synthesize import synthesize_and_report
from orca_ray.config import load_config
from orca_ray.core.prompts import TEACHER_SYSTEM
from orca_ray.distributed.resources import synthesis_stage_plan
from orca_ray.distributed.synthesis import PROBLEMS_FILE, SUMMARY_FILE, run_synthesis, shard_paths
from orca_ray.errors import ConfigError, TeacherError
from orca_ray.schemas import Problem, read_rows

pytestmark = pytest.mark.slow
TINY = Path(__file__).resolve().parents[2] / "jobs" / "configs" / "tiny.yaml"

SEEDS = 5
# The same Ask Me Anything problem from every seed: the near-duplicate filter must keep it once, across shards and
# across the resumed run; it is also in the evaluation set, so decontamination must then drop it.
SHARED_PROBLEM = "A farmer has 12 cows and buys 7 more cows at the market. How many cows does the farmer have now?"


def seed_question(i: int) -> str:
    return f"Mia has {10 + 3 * i} stickers and gives away {i + 1}. How many stickers does Mia have left?"


def digest(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16)


def edited_problem(conversation: list[dict]) -> str:
    """A rewrite of its own per seed. Seeds with an even sticker count get a problem whose solution is too long
    (decided in round 1 from the seed; later rounds see only the rewrite, which carries the marker on)."""
    text = " ".join(m["content"] for m in conversation[1:])
    h = digest(text)
    a, b, c = h % 40 + 11, h // 40 % 9 + 2, h // 360 % 30 + 5
    seed = re.search(r"Mia has (\d+)", text)
    slow = " carefully" if "carefully" in text or (seed and int(seed.group(1)) % 2 == 0) else ""
    return f"Problem: A shop sells {a} pens at {b} dollars each and then {c} more pens{slow}. How much money is made?"


def scripted_world(conversation, _sampling, counter=[0]):  # noqa: B006 - a per-process call counter
    system, last = conversation[0]["content"], conversation[-1]["content"]
    if system == prompts.ASK_ME_ANYTHING_SYSTEM:
        return f"Problem 1: {SHARED_PROBLEM}\nProblem 2: Mia guesses {digest(last) % 50} stickers. How many are red?"
    if system == prompts.SUGGESTER_SYSTEM:
        return "Add a second purchase."
    if system == prompts.EDITOR_SYSTEM:
        return edited_problem(conversation)
    assert system == TEACHER_SYSTEM
    counter[0] += 1
    if "guesses" in last:  # disagrees with itself
        return f"The answer is {counter[0]}."
    total = sum(int(x) for x in re.findall(r"\d+", last))
    padding = "Checking every step again. " * 80 if "carefully" in last else ""
    return f"{padding}Adding the numbers gives {total}.\nThe answer is {total}."


class ScriptedFactory:
    """A client factory the worker actors unpickle: scripted replies; optionally dies on the shard after
    `die_after_shards` (two clients are made per shard), as a killed job would."""

    def __init__(self, die_after_shards: int | None = None):
        self.die_after_shards = die_after_shards
        self.made = 0

    def __call__(self, *, temperature: float, max_tokens: int):
        self.made += 1
        if self.die_after_shards is not None and self.made > 2 * self.die_after_shards:
            raise RuntimeError("simulated crash in the middle of a shard")
        return scripted_client(scripted_world)


@pytest.fixture(scope="module")
def ray_session(ray_local):
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module


def config_for(tmp_path: Path, extra: tuple[str, ...] = (), **synthesis):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("".join(json.dumps({"id": f"s{i}", "question": seed_question(i), "answer": 10 + 2 * i}) + "\n"
                             for i in range(SEEDS)))  # fmt: skip
    evals = tmp_path / "eval.jsonl"
    evals.write_text(json.dumps({"question": SHARED_PROBLEM, "answer": 19}) + "\n")
    overrides = [
        f"data.train=[{{kind: jsonl, path: {seeds}}}]",
        f"data.eval={{held: {{kind: jsonl, path: {evals}}}}}",
        "synthesis.shard_size=2",
        "synthesis.ask_me_anything_per_seed=2",
        "synthesis.suggester_editor_rounds=2",
        "synthesis.answers_per_problem=3",
        "synthesis.max_solution_chars=1000",
        "resources.dashboard=false",
    ]
    overrides += [f"synthesis.{k}={v}" for k, v in synthesis.items()] + list(extra)
    return load_config(None, overrides)  # fmt: skip


def expected_counts() -> dict:
    long_ones = sum((10 + 3 * i) % 2 == 0 for i in range(SEEDS))  # the seeds with an even sticker count
    return {
        "seeds": {"ask_me_anything": SEEDS, "suggester_editor": SEEDS},
        "generated": {"ask_me_anything": 2 * SEEDS, "suggester_editor": SEEDS},
        "answered": {"ask_me_anything": 2 * SEEDS, "suggester_editor": SEEDS},
        "consistent": {"ask_me_anything": SEEDS, "suggester_editor": SEEDS},
        "within_length": {"ask_me_anything": SEEDS, "suggester_editor": SEEDS - long_ones},
        "deduplicated": {"ask_me_anything": 1, "suggester_editor": SEEDS - long_ones},
        "kept": {"suggester_editor": SEEDS - long_ones},
    }


def test_killed_after_the_first_shard_then_resumed(ray_session, tmp_path):
    config = config_for(tmp_path)
    out = tmp_path / "synthesis"
    with pytest.raises(Exception, match="simulated crash"):
        run_synthesis(config, out, client_factory=ScriptedFactory(die_after_shards=1), progress=False)
    finished = sorted(out.glob("shards/*.parquet"))
    assert len(finished) == 1  # the worker died on its second shard (Ray Data picks the order)
    (first,) = [i for i in range(3) if shard_paths(out, i)[0] == finished[0]]
    mtime = finished[0].stat().st_mtime_ns
    assert not (out / PROBLEMS_FILE).exists()

    seen_shards: list[int] = []
    summary = run_synthesis(config, out, client_factory=ScriptedFactory(), on_shard_done=seen_shards.append,
                            progress=False)  # fmt: skip
    assert (summary.shards, summary.shards_run, summary.shards_skipped) == (3, 2, 1)
    assert sorted(seen_shards) == sorted({0, 1, 2} - {first})
    assert finished[0].stat().st_mtime_ns == mtime  # not redone
    rows = read_rows(out / PROBLEMS_FILE, Problem)
    assert len({r.id for r in rows}) == len(rows) == summary.kept
    assert len({r.question for r in rows}) == len(rows)
    assert all(r.source == "synthesis:suggester_editor" and r.solution.endswith(f"The answer is {r.answer}.")
               for r in rows)  # fmt: skip
    assert {k: v for k, v in summary.counts.to_dict().items() if v} == expected_counts()
    assert summary.errors == {}
    written = json.loads((out / SUMMARY_FILE).read_text())
    assert written["counts"] == summary.counts.to_dict() and written["seeds"] == SEEDS
    table = summary.table().splitlines()
    assert table[0].split() == ["stage", "ask_me_anything", "suggester_editor", "total"]

    # A third run finds everything done: nothing is redone, the output is the same.
    again = run_synthesis(config, out, client_factory=ScriptedFactory(die_after_shards=0), progress=False)
    assert (again.shards_run, again.kept) == (0, summary.kept)
    assert read_rows(out / PROBLEMS_FILE, Problem) == rows


def test_resuming_with_other_settings_is_refused(ray_session, tmp_path):
    out = tmp_path / "synthesis"
    run_synthesis(config_for(tmp_path, seeds=2), out, client_factory=ScriptedFactory(), progress=False)
    with pytest.raises(ConfigError, match=r"shard-00000.parquet.*other settings synthesis.*--out"):
        run_synthesis(config_for(tmp_path, seeds=2, answers_per_problem=5), out, client_factory=ScriptedFactory(),
                      progress=False)  # fmt: skip
    more = run_synthesis(config_for(tmp_path, seeds=4), out, client_factory=ScriptedFactory(), progress=False)
    assert (more.shards_run, more.shards_skipped) == (1, 1)  # more seeds: the finished shard is kept


class DeadModel:
    """Clients whose every call fails, as an endpoint that died after the run started."""

    def __call__(self, *, temperature, max_tokens):
        def refuse(conversation, sampling):
            raise ConnectionError("connection refused by http://127.0.0.1:9/v1")

        return scripted_client(refuse)


# Issue 22: symbolic seeds also get the symbolic teacher's exact 'make it harder' candidates, written without a
# model; with an LLM teacher their solution rounds failed too, yet being 'generated' they hid the dead model (the
# run kept nothing and exited 0).
OPENAI_TEACHER = ("teacher.backend=openai", "teacher.base_url=http://127.0.0.1:9/v1", "teacher.model=x")


@pytest.mark.parametrize("seeds", ["jsonl", "symbolic"])
def test_a_dead_model_fails_the_job_with_the_reason(ray_session, tmp_path, seeds):
    extra = (
        ("data.train=[{kind: symbolic, n: 2, seed: 1, max_steps: 3}]", *OPENAI_TEACHER) if seeds == "symbolic" else ()
    )
    config = config_for(tmp_path, extra, seeds=2)
    with pytest.raises(
        TeacherError, match=r"all \d+ model calls of this shard failed; the first: .*connection refused"
    ):
        run_synthesis(config, tmp_path / "out", client_factory=DeadModel(), progress=False)


@pytest.fixture
def keep_ray(monkeypatch):
    """The command stops the Ray it finds when it ends; here that is the test session's, which stays."""
    monkeypatch.setattr("orca_ray.distributed.cluster.shutdown_ray", lambda: None)


def test_a_closed_port_stops_the_command_at_once_in_one_line(tmp_path, capsys, keep_ray):
    """Issue 22: `orca-ray synthesize ... --set teacher.base_url=<nothing listens>` ran 44 s, printed a traceback
    per failed conversation and exited 0 with nothing kept. It must stop before starting anything, naming the URL
    and the setting."""
    with socket.socket() as probe:  # a port nothing listens on: bound, then closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    started = time.perf_counter()
    rc = cli.main(["synthesize", str(TINY), "--set", "teacher.backend=openai", "--set", f"teacher.base_url={url}",
                   "--set", "teacher.model=x", "--out", str(tmp_path / "out")])  # fmt: skip
    seconds = time.perf_counter() - started
    # This process's own stderr, without what workers of earlier tests' Ray still forward ('(MapWorker ...) ...')
    err = [line for line in capsys.readouterr().err.splitlines() if "pid=" not in line]
    assert rc == 2 and seconds < 20
    reason = "connection refused: is the server running, and is teacher.base_url right?"
    assert err == [f"orca-ray: error: cannot connect to teacher.base_url={url} ({reason})"]
    assert not (tmp_path / "out" / "shards").exists()  # nothing was started


def test_a_run_that_keeps_nothing_says_so_and_fails(ray_session, tmp_path, capsys, keep_ray):
    def disagreeing_teacher(conversation, _sampling, counter=[0]):  # noqa: B006 - a call counter
        if conversation[0]["content"] != TEACHER_SYSTEM:
            return scripted_world(conversation, _sampling)
        counter[0] += 1
        return f"The answer is {counter[0]}."  # never the same answer twice: nothing is consistent

    class Disagreeing:
        def __call__(self, *, temperature, max_tokens):
            return scripted_client(disagreeing_teacher)

    rc = synthesize_and_report(config_for(tmp_path, seeds=2), str(tmp_path / "out"), client_factory=Disagreeing())
    assert rc == 1
    err = capsys.readouterr().err
    assert "synthesis kept no problems from 2 seeds: none passed 'consistent'" in err


def test_concurrency_plan_bounds_conversations_in_flight():
    config = load_config(None, ["synthesis.max_concurrent_conversations=4"])
    plan = synthesis_stage_plan(config, pending_shards=10)
    assert plan["conversations_per_worker"] == 4 and plan["options"]["compute"].min_size == 1
    config = load_config(None, ["synthesis.max_concurrent_conversations=100"])
    plan = synthesis_stage_plan(config, pending_shards=10)
    workers = plan["options"]["compute"].min_size
    assert workers == 4 and workers * plan["conversations_per_worker"] <= 100
    assert synthesis_stage_plan(config, pending_shards=1)["options"]["compute"].min_size == 1


def test_agents_run_on_a_vllm_engine_actor_through_our_client(ray_session, tiny_session, tmp_path):
    """No scripted model: the agents and the answers go through our engine-backed client to a vLLM engine actor
    (the tiny random Llama of the shared test session). Its replies are noise, so nothing is expected to survive
    the filters; every conversation must complete through the engine (no errors) and be counted."""
    config = config_for(tmp_path, ("teacher.max_tokens=12",), seeds=2, agent_max_tokens=12, answers_per_problem=2)
    factory = ClientFactory("engine", engines=tuple(tiny_session.student.handles), context_tokens=512)
    summary = run_synthesis(config, tmp_path / "out", client_factory=factory, progress=False)
    assert summary.errors == {}
    assert summary.counts.to_dict()["seeds"] == {"ask_me_anything": 2, "suggester_editor": 2}
    assert summary.shards_run == 1 and shard_paths(tmp_path / "out", 0)[0].is_file()


def test_the_loops_step_trains_on_the_seeds_plus_the_kept_problems(ray_session, tmp_path):
    from types import SimpleNamespace

    from orca_ray.data.readers import read_problems
    from orca_ray.distributed.synthesis import step_synthesis

    config = config_for(tmp_path, seeds=3)
    seeds = read_problems(config.data.train[0]).problems  # all 5: synthesis uses the first 3
    run = SimpleNamespace(config=config, run_id="run-42", root=tmp_path / "run")
    entry = step_synthesis(run, seeds, client_factory=ScriptedFactory())
    train = read_rows(entry["problems"], Problem)
    kept = read_rows(tmp_path / "run" / "synthesis" / PROBLEMS_FILE, Problem)
    assert train[: len(seeds)] == seeds and train[len(seeds) :] == kept and kept
    assert {r.run_id for r in kept} == {"run-42"}
    assert entry["counts"]["synthesis_seeds"] == 3 and entry["counts"]["problems"] == len(train)
    assert entry["counts"]["synthesis_kept"] == len(kept)
