"""Ray workers' output on the driver: which component a line belongs to (its file under `runs/<id>/logs/`), and
the few lines a person must see on the terminal: an exception (its last line, not the traceback), an error, an
out-of-memory, a dead or killed process. Everything else stays in the component's file.

    notices = WorkerNotices()
    component = component_of("student-engine", pid=4242)                   # 'engine'
    notices.feed(component, "4242", "RuntimeError: CUDA out of memory")     # 'RuntimeError: CUDA out of memory'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

ENGINE, LEARNER, DATA, RAY = "engine", "learner", "data", "ray"
COMPONENTS = (ENGINE, LEARNER, DATA, RAY)

# Actor and task names (the prefix Ray prints before each forwarded line) -> component. Engines name themselves
# "<role>-engine" (AsyncGenerationEngine.__repr__); Ray Train's actors and Ray Data's operators carry these names.
_NAME_RULES = (
    (re.compile(r"engine", re.I), ENGINE),
    (re.compile(r"^(RayTrainWorker|TrainController|PlacementGroupCleaner|PreemptionWatcher|_?Train)"), LEARNER),
    (
        re.compile(
            r"^(SplitCoordinator|DatasetManager|MapBatches|MapWorker|Map\(|Read|Write|_StatsActor|AutoscalingRequester"
            r"|_import_stage_code)|->"
        ),
        DATA,
    ),
)

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Words of a line that matters wherever it comes from: memory exhausted, a process killed or dead, a failed engine.
_MATTERS = re.compile(
    r"out of memory|outofmemory|\bOOM\b|oom.?kill|insufficient memory|not enough memory|low on memory"
    r"|\bkilled\b|SIGKILL|SIGSEGV|SIGABRT|segmentation fault|core dumped|\bdied\b|\bdead\b|EngineDeadError"
    r"|initialization failed|failed to start",
    re.I,
)
# A logging record at error level, in Python's, vLLM's and Ray's line formats ("ERROR 12-03 18:15:07 [x.py:1]",
# "2026-12-03 18:14:08,198\tERROR worker.py:85 -- ...", "ERROR:root:...").
_ERROR_LEVEL = re.compile(r"(^|[\s\]:])(ERROR|CRITICAL|FATAL)([\s:]|$)")
_TRACEBACK = "Traceback (most recent call last):"
_NUMBERS = re.compile(r"\d+")
_CHAINING = ("During handling of the above exception", "The above exception was the direct cause")


def strip_ansi(line: str) -> str:
    """A forwarded line without terminal colour codes.

    >>> strip_ansi("\\x1b[36m(pid=1)\\x1b[0m hello")
    '(pid=1) hello'
    """
    return _ANSI.sub("", line)


def component_of(name: str | None, pid: object = None) -> str | None:
    """The component of a worker's output from the actor or task name Ray gives it; None when the name says
    nothing (a line without one: the caller remembers the component of the process id).

    >>> component_of("student-engine"), component_of("RayTrainWorker"), component_of("MapBatches(sample_shard)")
    ('engine', 'learner', 'data')
    >>> component_of(None, pid="raylet"), component_of(None, pid=12)
    ('ray', None)
    """
    if pid in ("raylet", "autoscaler", "gcs_server"):
        return RAY
    for pattern, component in _NAME_RULES:
        if name and pattern.search(name):
            return component
    return RAY if name else None


def matters(line: str) -> bool:
    """Whether a line of a worker's output belongs on the terminal: an error-level record, or words of a memory
    exhaustion, a killed or dead process, a failed engine.

    >>> matters("(Worker pid=448) WARNING 12-03 18:15:44 [cpu_worker.py:114] libtcmalloc is not found")
    False
    >>> matters("ERROR 12-03 18:15:44 [core.py:1] EngineCore failed"), matters("Task was killed: low on memory")
    (True, True)
    """
    return bool(_MATTERS.search(line) or _ERROR_LEVEL.search(line))


@dataclass
class WorkerNotices:
    """Picks the lines of workers' output that a person must see. A traceback is reduced to its exception line;
    a notice already given for the component is not repeated; after `limit` notices of one component the next is
    one last line saying that more are in its file (`more_line`) and the rest are dropped."""

    limit: int = 10
    _in_traceback: dict[str, bool] = field(default_factory=dict)
    _seen: dict[str, set[str]] = field(default_factory=dict)

    def feed(self, component: str, source: str, line: str) -> str | None:
        """The notice for one line from process `source` of `component`, or None."""
        text = strip_ansi(line).rstrip()
        notice = self._pick(source, text)
        if notice is None:
            return None
        seen = self._seen.setdefault(component, set())
        key = _NUMBERS.sub("#", notice)  # the same failure again with other ports, pids or counts
        if key in seen or len(seen) > self.limit:
            return None
        seen.add(key)
        return notice if len(seen) <= self.limit else "more errors and warnings"

    def _pick(self, source: str, text: str) -> str | None:
        stripped = text.strip()
        if stripped.endswith(_TRACEBACK):
            self._in_traceback[source] = True
            return None
        if self._in_traceback.get(source):
            if not stripped or text[:1].isspace() or stripped.startswith(_CHAINING) or stripped.startswith("^"):
                return None  # a frame, its source line, a caret line, or a chained traceback's heading
            self._in_traceback[source] = False
            return stripped  # the exception: "ValueError: ..."
        return stripped if matters(stripped) else None


def notice_line(component: str, notice: str, log_file: str, width: int = 220) -> str:
    """The terminal line of a worker notice: the component, the notice cut to `width`, and the file to read.

    >>> notice_line("engine", "ValueError: no memory", "runs/r/logs/engine.log")
    'engine: ValueError: no memory (more in runs/r/logs/engine.log)'
    """
    cut = notice if len(notice) <= width else notice[: width - 3] + "..."
    return f"{component}: {cut} (more in {log_file})"
