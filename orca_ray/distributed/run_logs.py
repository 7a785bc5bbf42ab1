"""A run's log files, one per component under `runs/<id>/logs/`: driver.log (the driver's Python logging, Ray's
own driver lines included), engine.log (vLLM engine actors and their engine processes), learner.log (Ray Train's
controller and workers: TRL, PEFT, transformers), data.log (Ray Data: its driver-side lines and its tasks and
actors), ray.log (raylet and workers of no known component).

    with capture(run.root):       # loop.run_pipeline, around the whole run
        ...                       # init_ray calls attach_ray() once Ray is up

Worker output reaches the driver through Ray's own forwarding (`ray.init(log_to_driver=True)`), from every node,
so the files are written where the driver runs, also on a cluster. Ray has no public setting that sends that
stream somewhere other than the terminal, so while a run is captured its handler on Ray's dispatcher of worker
output (ray._private.ray_logging.global_worker_stdstream_dispatcher, the same list `ray.init` adds its printer to)
writes each line to its component's file; in the story (orca_ray.console) Ray's printer is taken off for the
run, and only the notices that core.worker_output picks (an exception, an error, an out-of-memory, a dead worker)
reach the terminal, each naming its file. With --verbose Ray's printer stays and the files are written as well.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import traceback
from pathlib import Path

from orca_ray import console
from orca_ray.core.worker_output import DATA, LEARNER, RAY, WorkerNotices, component_of, notice_line, strip_ansi

log = logging.getLogger(__name__)

LOGS_DIR = "logs"
DRIVER = "driver"
_RAY_PRINTER = "ray_print_logs"  # the name ray.init gives its printer of worker output
_OUR_HANDLER = "orca_ray_run_logs"
_TQDM_MAGIC = "__ray_tqdm_magic_token__"  # Ray's distributed tqdm state, not text (ray.experimental.tqdm_ray)

_active: dict[str, RunLogs | None] = {"run": None}


class RunLogs:
    """The files of one run's logs directory, opened on first use, written line by line from any thread."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, object] = {}
        self._lock = threading.Lock()
        self._pids: dict[object, str] = {}
        self.notices = WorkerNotices()
        self.quiet = console.is_quiet()
        self.saved_printer = None  # Ray's printer while it is taken off
        self.saved_print_to_stdstream = None  # the function the raylet's messages are printed with, meanwhile

    def path(self, component: str) -> Path:
        return self.directory / f"{component}.log"

    def write(self, component: str, lines: list[str]) -> None:
        with self._lock:
            handle = self._files.get(component)
            if handle is None:
                handle = self._files[component] = open(self.path(component), "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed in close()
            handle.write("".join(line + "\n" for line in lines))

    def worker_output(self, data: dict) -> None:
        """Ray's dispatcher calls this with each batch of a worker's lines (pid, actor or task name, lines)."""
        try:
            self._worker_output(data)
        except Exception as err:  # noqa: BLE001 - a failure here must never stop Ray's log thread
            log.debug("worker output not routed: %s", err)

    def _worker_output(self, data: dict) -> None:
        pid = data.get("pid")
        name = data.get("actor_name") or data.get("task_name") or None
        component = component_of(name, pid) or self._pids.get(pid) or RAY
        if name:
            self._pids[pid] = component
        ip = data.get("ip")
        where = f", ip={ip}" if ip and ip != data.get("localhost") else ""
        prefix = f"({name + ' ' if name else ''}pid={pid}{where}) "
        lines = [
            strip_ansi(part) for line in data.get("lines", []) if _TQDM_MAGIC not in line for part in line.split("\n")
        ]
        if not lines:
            return
        self.write(component, [prefix + line for line in lines])
        if not self.quiet:
            return  # Ray's printer shows them all
        for line in lines:
            notice = self.notices.feed(component, str(pid), line)
            if notice:
                logging.getLogger(console.WORKERS).warning(notice_line(component, notice, str(self.path(component))))

    def close(self) -> None:
        with self._lock:
            for handle in self._files.values():
                handle.close()
            self._files = {}


class ComponentHandler(logging.Handler):
    """The driver's Python logging into the run's files: Ray Data's records to data.log, Ray Train's to
    learner.log, the rest to driver.log."""

    def __init__(self, logs: RunLogs):
        # INFO and above, DEBUG too under --verbose (Ray Data logs every scheduling decision at DEBUG)
        super().__init__(level=min(logging.INFO, logging.getLogger().getEffectiveLevel()))
        self.logs = logs
        self.setFormatter(logging.Formatter(console.VERBOSE_FORMAT, datefmt="%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            name = record.name
            component = DATA if name.startswith("ray.data") else LEARNER if name.startswith("ray.train") else DRIVER
            self.logs.write(component, [self.format(record)])
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


# Ray's and Ray Data's loggers do not propagate to the root logger and print through handlers of their own.
_LIBRARY_LOGGERS = ("ray", "ray.data", "ray.train")


@contextlib.contextmanager
def capture(run_root: Path):
    """Write the run's logs under `<run_root>/logs/` while the block runs (and, in the story, keep the libraries'
    driver lines off the terminal but those that matter)."""
    import ray.data  # noqa: F401 - Ray's and Ray Data's loggers get their handlers on import: take them after

    logs = RunLogs(Path(run_root) / LOGS_DIR)
    handler = ComponentHandler(logs)
    root = logging.getLogger()
    root.addHandler(handler)
    restore = _take_library_loggers(handler, logs.quiet)
    _active["run"] = logs
    attach_ray()
    try:
        yield logs
    except BaseException:
        logs.write(DRIVER, [traceback.format_exc().rstrip()])  # the terminal gets it from Python as before
        raise
    finally:
        _detach_ray(logs)
        _active["run"] = None
        for undo in restore:
            undo()
        root.removeHandler(handler)
        logs.close()


class _Forward(logging.Handler):
    """Passes records on to another handler. Ray's loggers get these rather than the root's handlers themselves:
    ray.init sets its format on every handler of the "ray" logger (ray._private.ray_logging.setup_logger)."""

    def __init__(self, target: logging.Handler):
        super().__init__()
        self.target = target

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= self.target.level:  # Handler.handle checks filters, not the level
            self.target.handle(record)


def _take_library_loggers(handler: ComponentHandler, quiet: bool) -> list:
    """Add the run's files to Ray's loggers; in the story also swap their own terminal handlers for the story's
    filtered one. Returns the undo steps."""
    undo = []
    terminal = next((h for h in logging.getLogger().handlers if isinstance(h, console.TerminalHandler)), None)
    for name in _LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if logger.propagate:
            continue  # its records reach its parent's handlers (ray.train's those of ray)
        added = [_Forward(handler)]
        own = [h for h in logger.handlers if _is_terminal(h)] if quiet and terminal is not None else []
        if own:
            added.append(_Forward(terminal))
        for h in own:
            logger.removeHandler(h)
        for h in added:
            logger.addHandler(h)
        undo.append(
            lambda lg=logger, hs=own, new=added: [lg.removeHandler(h) for h in new] + [lg.addHandler(h) for h in hs]
        )
    return undo


def _is_terminal(handler: logging.Handler) -> bool:
    return isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler)


def _dispatcher():
    try:
        from ray._private.ray_logging import global_worker_stdstream_dispatcher
    except ImportError:  # another Ray: its printer stays, the files hold the driver's lines only
        return None
    return global_worker_stdstream_dispatcher if hasattr(global_worker_stdstream_dispatcher, "handlers") else None


def attach_ray() -> None:
    """Route Ray workers' output into the active run's files (cluster.init_ray calls this once Ray is up; a no-op
    without an active run or before Ray is initialized)."""
    logs = _active["run"]
    dispatcher = _dispatcher() if logs is not None else None
    if dispatcher is None:
        return
    import ray

    if not ray.is_initialized() or any(name == _OUR_HANDLER for name, _ in dispatcher.handlers):
        return
    if logs.quiet:
        printer = next(((n, h) for n, h in dispatcher.handlers if n == _RAY_PRINTER), None)
        if printer is not None:
            dispatcher.remove_handler(_RAY_PRINTER)
            logs.saved_printer = printer
        _route_raylet_messages(logs)
    dispatcher.add_handler(_OUR_HANDLER, logs.worker_output)


def _route_raylet_messages(logs: RunLogs) -> None:
    """The raylet's messages (a worker killed for memory, a worker that died, "N worker processes have been
    started") reach the driver on another channel, which ray._private.worker.listen_error_messages prints through
    that module's print_to_stdstream (Ray's printer of worker output holds its own reference to the function).
    In the story they go to ray.log, and those that matter to the terminal, like workers' lines."""
    import ray._private.worker as ray_worker

    original = getattr(ray_worker, "print_to_stdstream", None)
    if original is None or logs.saved_print_to_stdstream is not None:
        return

    def routed(data, ignore_prefix=False):
        logs.worker_output(data)

    logs.saved_print_to_stdstream = original
    ray_worker.print_to_stdstream = routed


def _detach_ray(logs: RunLogs) -> None:
    dispatcher = _dispatcher()
    if dispatcher is None:
        return
    dispatcher.remove_handler(_OUR_HANDLER)
    import ray

    if logs.saved_printer is not None and ray.is_initialized():
        dispatcher.add_handler(*logs.saved_printer)  # a Ray that outlives the run prints as before
    logs.saved_printer = None
    if logs.saved_print_to_stdstream is not None:
        import ray._private.worker as ray_worker

        ray_worker.print_to_stdstream = logs.saved_print_to_stdstream
        logs.saved_print_to_stdstream = None
