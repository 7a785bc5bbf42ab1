"""The terminal's story of a run: which worker lines reach it (a traceback as its one exception line, errors,
out-of-memory, dead workers; never the per-layer or per-second noise), which driver records pass, the line of
each finished step, the progress line and how often a non-interactive terminal gets one."""

from __future__ import annotations

import io
import json
import logging

import pytest

from orca_ray.console import TerminalHandler, shows_on_terminal, story, verbose_level
from orca_ray.core.story import Progress, earlier_line, eta, next_report, progress_line, step_line
from orca_ray.core.worker_output import WorkerNotices, component_of, matters, notice_line

# Lines of a real tiny run's worker output (2026-12-03), with Ray's colour codes.
NOISE = [
    "\x1b[36m(AsyncGenerationEngine pid=32338)\x1b[0m (Worker pid=448) WARNING 12-03 18:15:44 [utils.py:333] "
    "Attempted to load weight layers.0.input_layernorm.weight with dtype torch.float32 into parameter with dtype "
    "torch.bfloat16",
    "(Worker pid=448) WARNING 12-03 18:15:44 [cpu_worker.py:114] libtcmalloc is not found in LD_PRELOAD.",
    "[W1203 18:15:44.548578470 utils.cpp:68] Warning: NUMA binding: Using MEMBIND policy for memory allocation",
    "MapBatches(sample_shard): Tasks: 1; Actors: 0; Queued blocks: 0 (0.0B); Resources: 0.2 CPU, 0.0B object store",
    "{'loss': '10.73', 'grad_norm': '0.3335', 'learning_rate': '0', 'entropy': '10.79'}",
    "[2026-12-03 18:16:33,451 E 1396 1471] core_worker.cc:2465: Actor with class name: 'PreemptionWatcher' has "
    "constructor arguments in the object store and max_restarts > 0.",
    "(Worker pid=448) INFO 12-03 18:17:52 [multiproc_executor.py:843] Parent process exited, terminating worker queues",
]

TRACEBACK = [
    "Exception in thread PlacementGroupCleanerMonitor:",
    "Traceback (most recent call last):",
    '  File "/x/threading.py", line 1045, in _bootstrap_inner',
    "    self.run()",
    "            ^^^^^^^^^^^^^^^",
    "ConnectionError: Found multiple active Ray instances: {'192.0.2.2:42763', '192.0.2.2:36429'}.",
]


def test_noise_of_a_real_run_never_reaches_the_terminal():
    notices = WorkerNotices()
    assert [notices.feed("engine", "1", line) for line in NOISE] == [None] * len(NOISE)


def test_a_traceback_becomes_its_exception_line_once():
    notices = WorkerNotices()
    shown = [n for line in TRACEBACK + TRACEBACK for n in [notices.feed("learner", "7", line)] if n]
    assert shown == [TRACEBACK[-1]]


def test_the_same_failure_with_other_numbers_is_shown_once():
    """Ray Train's cleaner fails this way once per training on a machine running two Rays, ports in any order."""
    notices = WorkerNotices()
    first = "ConnectionError: Found multiple active Ray instances: {'192.0.2.2:36303', '192.0.2.2:34049'}."
    again = "ConnectionError: Found multiple active Ray instances: {'192.0.2.2:34049', '192.0.2.2:36303'}."
    shown = [
        notices.feed("learner", pid, line)
        for pid, last in (("1", first), ("2", again))
        for line in (*TRACEBACK[1:3], last)
    ]
    assert [n for n in shown if n] == [first]


def test_chained_tracebacks_skip_the_chaining_sentences():
    lines = [
        "Traceback (most recent call last):",
        "  File 'a.py', line 1, in f",
        "KeyError: 'x'",
        "",
        "During handling of the above exception, another exception occurred:",
        "",
        "Traceback (most recent call last):",
        "  File 'b.py', line 2, in g",
        "ValueError: engine start failed",
    ]
    notices = WorkerNotices()
    assert [n for line in lines if (n := notices.feed("engine", "1", line))] == ["KeyError: 'x'", lines[-1]]


@pytest.mark.parametrize(
    "line",
    [
        "(EngineCore pid=3) ERROR 12-03 18:15:07 [core.py:708] EngineCore failed to start.",
        "RuntimeError: Engine core initialization failed. See root cause above.",
        "A worker died or was killed while executing a task by an unexpected system error.",
        "Task was killed due to the node running low on memory.",
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
        "2026-12-03 18:14:08,198\tERROR worker.py:421 -- Unhandled error (suppress with RAY_IGNORE_UNHANDLED_ERRORS=1)",
    ],
)
def test_what_matters_is_shown(line):
    assert matters(line)
    assert WorkerNotices().feed("engine", "1", line) == line


def test_notices_of_a_component_are_capped_with_one_last_line():
    notices = WorkerNotices(limit=2)
    words = ["disk", "network", "socket", "lock", "queue"]
    shown = [notices.feed("data", "1", f"ERROR worker.py:1 -- {word} failure") for word in words]
    assert shown[:2] == ["ERROR worker.py:1 -- disk failure", "ERROR worker.py:1 -- network failure"]
    assert shown[2] == "more errors and warnings" and shown[3:] == [None, None]
    assert notices.feed("engine", "2", "ERROR worker.py:1 -- disk failure") is not None  # per component


def test_components_from_ray_prefixes():
    names = {
        "student-engine": "engine",
        "teacher-engine": "engine",
        "AsyncGenerationEngine": "engine",
        "RayTrainWorker": "learner",
        "TrainController": "learner",
        "PlacementGroupCleaner": "learner",
        "SplitCoordinator": "data",
        "DatasetManager": "data",
        "MapBatches(judge_shard)": "data",
        "ReadRange->MapBatches(f)": "data",
        "SomethingElse": "ray",
    }
    assert {name: component_of(name) for name in names} == names
    assert component_of(None, "raylet") == "ray" and component_of(None, 12) is None


def test_notice_line_names_the_file_and_cuts_long_lines():
    line = notice_line("engine", "x" * 500, "runs/r/logs/engine.log", width=50)
    assert line.startswith("engine: " + "x" * 47 + "...") and line.endswith("(more in runs/r/logs/engine.log)")


def test_driver_records_on_the_terminal():
    assert shows_on_terminal("orca_ray.story", logging.INFO, "iter-1 done in 60 s")
    assert shows_on_terminal("orca_ray.learner", logging.WARNING, "no rows to train on")
    assert not shows_on_terminal("orca_ray.distributed.loop", logging.INFO, "step sft: starting")
    assert not shows_on_terminal("ray", logging.INFO, "Started a local Ray instance.")
    assert not shows_on_terminal("ray", logging.WARNING, "Token authentication is enabled for this Ray cluster.")
    assert not shows_on_terminal("py.warnings", logging.WARNING, "UserWarning: the operator only received 1 input")
    assert shows_on_terminal("ray.data", logging.WARNING, "a worker died: out of memory")
    assert shows_on_terminal("ray.data", logging.ERROR, "Exception raised in creation task")


def test_terminal_handler_writes_story_lines_plainly_and_warnings_with_their_logger():
    stream = io.StringIO()
    logger = logging.getLogger("orca_ray.test_terminal_story")
    handler = TerminalHandler(stream)
    story().addHandler(handler)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logging.getLogger("orca_ray.story").info("sft done in 44 s")
        logger.info("not shown")
        logger.warning("shown with its name")
    finally:
        logging.getLogger("orca_ray.story").removeHandler(handler)
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(" sft done in 44 s") and "WARNING orca_ray.test_terminal_story: shown" in lines[1]


def test_verbose_levels():
    assert verbose_level(False, {}) is None
    assert verbose_level(True, {"ORCA_RAY_LOG_LEVEL": "WARNING"}) == logging.DEBUG
    assert verbose_level(False, {"ORCA_RAY_LOG_LEVEL": "warning"}) == logging.WARNING
    assert verbose_level(False, {"ORCA_RAY_LOG_LEVEL": "15"}) == 15


# ---------------------------------------------------------------- step lines, from a tiny run's manifest

ITERATION = {
    "seconds": 60.42,
    "policy_version": 2,
    "counts": {
        "problems": 16,
        "problems_sampled": 16,
        "judge_samples": 32,
        "judge_correct": 3,
        "judge_incorrect": 5,
        "judge_undecidable": 24,
        "examples": 48,
        "train_steps": 2,
    },
    "metrics": {"train/loss": 0.5, "train/loss_first": 0.52, "train/tokens_per_second": 1258.2},
}


def test_each_step_kind_has_its_figures():
    problems = {"seconds": 1.6, "counts": {"problems": 16, "eval_heldout_read": 8, "train_quarantined": 1}}
    assert (
        step_line("problems", problems) == "problems done in 2 s: 16 training problems, 1 quarantined, eval heldout 8"
    )
    evaluation = {"seconds": 4.2, "summaries": [{"set": "heldout", "accuracy": 0.125, "correct": 1, "problems": 8}]}
    assert step_line("eval:sft", evaluation) == "eval:sft done in 4 s: heldout 12.5% (1/8)"
    sft = {"seconds": 44.3, "counts": {"train_steps": 2, "sft_examples": 16}, "metrics": {"train/loss": 10.745}}
    assert step_line("sft", sft) == "sft done in 44 s: 2 steps, loss 10.74 on 16 examples"
    assert step_line("iter-1", ITERATION, "kto") == (
        "iter-1 done in 1:00: 16/16 problems sampled; 32 samples judged (3 correct, 5 incorrect, 24 undecidable); "
        "48 examples; kto 2 steps, loss 0.52 -> 0.5, 1258 tok/s; policy v2"
    )
    assert earlier_line("iter-1", ITERATION, "kto").startswith("iter-1 done earlier (1:00): 16/16 problems sampled")


def test_the_synthesis_line_is_its_funnel():
    counts = {"synthesis_seeds": 32, "synthesis_generated": 40, "synthesis_kept": 30, "problems": 410}
    assert step_line("synthesis", {"seconds": 200, "counts": counts}) == (
        "synthesis done in 3:20: seeds 32 > generated 40 > kept 30; 410 training problems"
    )


def test_a_step_line_survives_a_manifest_entry_without_figures():
    assert step_line("synthesis", {"seconds": 3}) == "synthesis done in 3 s"
    assert step_line("iter-2", {"seconds": 3}).startswith("iter-2 done in 3 s: 0/0 problems sampled")


def test_progress_line_and_eta():
    state = Progress(elapsed=40, problems=16, sampled=16, judged=8, trains=True, train_step=1, train_steps=4)
    assert eta(state) == pytest.approx(40 * (1 - 0.375) / 0.375)
    assert progress_line("iter-1", state) == (
        "iter-1: sampled 16/16, judged 8/16, train step 1/4, 40 s elapsed, ETA 1:07"
    )
    assert progress_line("problems", Progress(elapsed=5)) == "problems: 5 s elapsed"


def test_a_non_interactive_terminal_gets_few_progress_lines():
    """A 30-minute step gets at most 8 progress lines (the issue: a redraw per second filled 943 lines)."""
    times, gap = [], next_report(None)
    due = gap
    while due <= 30 * 60:
        times.append(due)
        gap = next_report(gap)
        due += gap
    assert times[:3] == [30, 90, 210] and len(times) <= 8


def test_progress_reads_spans_and_the_learner_file(tmp_path, monkeypatch):
    import time

    from orca_ray import console
    from orca_ray.progress import StepProgress

    monkeypatch.setitem(console._mode, "quiet", True)
    (tmp_path / "metrics.sampler-1.jsonl").write_text(json.dumps({"span": "sampler", "start": 0, "end": 1}) + "\n")
    progress = StepProgress(tmp_path, "iter-1", trains=True, stream=io.StringIO(), interactive=False)
    progress.expect(16)
    with progress:  # the records already there belong to earlier steps
        now = time.time()
        span = {"span": "sampler", "start": now, "end": now + 2, "rows": 16, "tokens": 100, "problems": 8}
        with open(tmp_path / "metrics.sampler-1.jsonl", "a") as f:
            f.write(json.dumps(span) + "\n" + json.dumps({"span": "judge", "start": now, "end": now + 1})[:20])
        (tmp_path / "iter-1" / "train").mkdir(parents=True)
        learner = {"step": 1, "max_steps": 2, "time": now + 1, "tokens_per_second": 900.0}
        (tmp_path / "iter-1" / "train" / "progress.json").write_text(json.dumps(learner))
        state = progress.update()
    assert (state.sampled, state.judged, state.train_step, state.train_steps) == (8, 0, 1, 2)
    assert state.sample_tokens_per_s == pytest.approx(50.0) and state.train_tokens_per_s == 900.0


def test_worker_output_lands_in_its_components_file_and_only_notices_reach_the_log(tmp_path, caplog):
    from orca_ray.distributed.run_logs import RunLogs

    logs = RunLogs(tmp_path / "logs")
    logs.quiet = True
    batches = [
        {"pid": 11, "actor_name": "student-engine", "lines": NOISE[:2], "ip": "10.0.0.1", "localhost": "10.0.0.1"},
        {"pid": 11, "lines": ["a line of that engine without its name"]},
        {"pid": 12, "actor_name": "RayTrainWorker", "lines": TRACEBACK, "ip": "10.0.0.2", "localhost": "10.0.0.1"},
        {"pid": 13, "task_name": "MapBatches(sample_shard)", "lines": ['{"__ray_tqdm_magic_token__": 1}']},
        {
            "pid": "raylet",
            "lines": ["Task was killed due to the node running low on memory.\nMemory on the node: 23 GB"],
        },
    ]
    with caplog.at_level(logging.WARNING, logger="orca_ray.workers"):
        for data in batches:
            logs.worker_output(data)
    logs.close()
    engine = (tmp_path / "logs" / "engine.log").read_text().splitlines()
    assert len(engine) == 3 and engine[0].startswith("(student-engine pid=11) ") and "\x1b" not in engine[0]
    assert engine[2] == "(pid=11) a line of that engine without its name"  # known by its process id
    learner = (tmp_path / "logs" / "learner.log").read_text()
    assert learner.startswith("(RayTrainWorker pid=12, ip=10.0.0.2) Exception in thread") and "^^^" in learner
    assert not (tmp_path / "logs" / "data.log").exists()  # Ray's tqdm state is not text
    assert (tmp_path / "logs" / "ray.log").read_text().count("\n") == 2
    notices = [r.getMessage() for r in caplog.records if r.name == "orca_ray.workers"]
    assert notices == [
        f"learner: {TRACEBACK[-1]} (more in {tmp_path / 'logs' / 'learner.log'})",
        f"ray: Task was killed due to the node running low on memory. (more in {tmp_path / 'logs' / 'ray.log'})",
    ]


class _FakeDispatcher:
    """Ray's dispatcher of worker output: a list of (name, handler) pairs."""

    def __init__(self, printer):
        self.handlers = [("ray_print_logs", printer)]

    def add_handler(self, name, handler):
        self.handlers.append((name, handler))

    def remove_handler(self, name):
        self.handlers = [pair for pair in self.handlers if pair[0] != name]


@pytest.mark.parametrize("quiet", [True, False])
def test_a_captured_run_keeps_rays_printer_only_when_verbose(tmp_path, monkeypatch, quiet):
    """The story takes Ray's printer of worker output off for the run and puts it back after; --verbose keeps it
    (everything printed as before) and writes the files as well."""
    import ray

    from orca_ray import console
    from orca_ray.distributed import run_logs

    printed = []
    dispatcher = _FakeDispatcher(printed.append)
    monkeypatch.setattr(run_logs, "_dispatcher", lambda: dispatcher)
    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    monkeypatch.setitem(console._mode, "quiet", quiet)
    with run_logs.capture(tmp_path) as logs:
        assert [n for n, _ in dispatcher.handlers] == (
            ["orca_ray_run_logs"] if quiet else ["ray_print_logs", "orca_ray_run_logs"]
        )
        for _, handler in dispatcher.handlers:
            handler({"pid": 5, "actor_name": "student-engine", "lines": ["INFO vLLM engine started"]})
        logging.getLogger("orca_ray.test").warning("a driver warning")
    assert [n for n, _ in dispatcher.handlers] == ["ray_print_logs"]
    assert len(printed) == (0 if quiet else 1)
    assert (logs.directory / "engine.log").read_text() == "(student-engine pid=5) INFO vLLM engine started\n"
    assert "a driver warning" in (logs.directory / "driver.log").read_text()
