"""The live progress of a run step on the terminal, from what the run directory receives while it works: the
sampler's and judge's span records (metrics.*.jsonl, one per shard, with problems and tokens) and the learner's
progress file (`progress.json` in its output directory, rewritten after every optimizer step).

On an interactive terminal it is one tqdm bar, redrawn every second; elsewhere (a file, `ray job logs`, CI) one
line now and then (core.story.next_report: after 30 s, then at doubling gaps), never a redraw.

    progress = StepProgress(run.root, "iter-1", trains=True)
    progress.expect(problems=16)
    with progress:
        ...
"""

from __future__ import annotations

import json
import shutil
import sys
import threading
import time
from pathlib import Path

from orca_ray import console
from orca_ray.core.story import Progress, fraction, next_report, progress_figures, progress_line

PROGRESS_FILE = "progress.json"  # written by learner_worker.ProgressFile
_POLL_S = 1.0


def train_dir(root: Path, step: str) -> Path:
    """Where a training step's learner writes (the same layout as run_report reads)."""
    return root / "sft" if step == "sft" else root / step / "train"


class SpanTail:
    """New span records of the run log since it was created: every metrics*.jsonl file read from where it was
    then (a file that appears later from its start), partial last lines kept for the next read."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._offsets = {p: p.stat().st_size for p in self.root.glob("metrics*.jsonl")}
        self._partial: dict[Path, bytes] = {}

    def read(self) -> list[dict]:
        records = []
        for path in sorted(self.root.glob("metrics*.jsonl")):
            with open(path, "rb") as f:
                f.seek(self._offsets.get(path, 0))
                data = self._partial.pop(path, b"") + f.read()
                self._offsets[path] = f.tell()
            *lines, rest = data.split(b"\n")
            if rest:
                self._partial[path] = rest
            for line in lines:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if "span" in record:
                    records.append(record)
        return records


class StepProgress:
    """One step's live display (a context manager); a no-op unless the console tells the story."""

    def __init__(self, root: Path, name: str, *, trains: bool = False, stream=None, interactive: bool | None = None):
        self.root, self.name, self.trains = Path(root), name, trains
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.enabled = console.is_quiet()
        self.state = Progress(trains=trains)
        self._started = time.time()
        self._tail: SpanTail | None = None
        self._sample_window: list[float] = []  # [first sampler span's start, latest one's end]
        self._sample_tokens = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bar = None

    def expect(self, problems: int) -> None:
        """The number of problems the step samples and judges (its total)."""
        self.state.problems = problems

    def __enter__(self):
        if self.enabled:
            self._started = time.time()
            self._tail = SpanTail(self.root) if self.root.is_dir() else None
            self._thread = threading.Thread(target=self._run, name=f"progress-{self.name}", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=5)
        if self._bar is not None:
            self._bar.close()

    # ------------------------------------------------------------ polling

    def _run(self) -> None:
        gap = due = next_report(None)
        while not self._stop.wait(_POLL_S):
            try:
                self.update()
                if self.interactive:
                    self._draw()
                elif self.state.elapsed >= due:
                    console.story().info(progress_line(self.name, self.state))
                    gap = next_report(gap)
                    due += gap
            except Exception:  # noqa: BLE001 - a display must never stop the run
                continue

    def update(self) -> Progress:
        """Read what arrived since the last call into `state`."""
        state = self.state
        state.elapsed = time.time() - self._started
        for record in self._tail.read() if self._tail else []:
            if record.get("start", 0) < self._started - 1:
                continue
            problems = int(record.get("problems", record.get("rows", 0)))
            if record["span"] == "sampler":
                state.sampled += problems
                self._sample_tokens += int(record.get("tokens", 0))
                self._sample_window = [min(self._sample_window[:1] + [record["start"]]), record["end"]]
            elif record["span"] == "judge":
                state.judged += problems
        if len(self._sample_window) == 2 and self._sample_window[1] > self._sample_window[0]:
            state.sample_tokens_per_s = self._sample_tokens / (self._sample_window[1] - self._sample_window[0])
        if self.trains:
            self._read_learner(state)
        return state

    def _read_learner(self, state: Progress) -> None:
        path = train_dir(self.root, self.name) / PROGRESS_FILE
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            return
        if info.get("time", 0) < self._started:
            return  # an earlier run's
        state.train_step = int(info.get("step", 0))
        state.train_steps = int(info["max_steps"]) if info.get("max_steps", 0) > 0 else None
        state.train_tokens_per_s = info.get("tokens_per_second") or None

    def _draw(self) -> None:
        if self._bar is None:
            from tqdm import tqdm

            # A terminal that reports no size (a pty without a window) gets 100 x 20: tqdm drew nothing there.
            size = shutil.get_terminal_size((100, 20))
            self._bar = tqdm(
                desc=f"{self.name}:",
                total=1000,
                file=self.stream,
                bar_format="{desc} |{bar:16}| {elapsed}<{remaining}",
                ncols=size.columns,
                nrows=size.lines,
                leave=False,
            )
        done = fraction(self.state)
        self._bar.set_description_str(f"{self.name}: {progress_figures(self.state)}", refresh=False)
        self._bar.n = int(1000 * done) if done is not None else 0
        self._bar.refresh()


class NoProgress:
    """The display of a step that has none (a run driven without a Run, or a step done earlier)."""

    def expect(self, problems: int) -> None:
        pass
