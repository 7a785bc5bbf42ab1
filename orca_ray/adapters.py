"""Published policy versions: the learner writes adapters to `<publish_dir>/v0001/`, `v0002/`, ... and points
`<publish_dir>/latest.json` at the newest; samplers read that pointer. Both sides are atomic renames, so a reader
never sees a half-written adapter or pointer. Plain files only (no torch): samplers import this cheaply.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> latest_adapter(d) is None
    True
    >>> (d / "v0001").mkdir(); _ = write_latest(d, 1, d / "v0001", step=4)
    >>> latest_adapter(d) == (1, str(d / "v0001"))
    True
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

LATEST = "latest.json"


def version_dir(publish_dir: str | Path, version: int) -> Path:
    return Path(publish_dir) / f"v{version:04d}"


def latest_adapter(publish_dir: str | Path) -> tuple[int, str] | None:
    """(version, adapter directory) of the newest published adapter, or None when nothing is published yet."""
    pointer = Path(publish_dir) / LATEST
    try:
        info = json.loads(pointer.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None  # a pointer being replaced on a filesystem without atomic rename: try again next batch
    path = Path(info["path"])
    if not path.is_absolute():
        path = Path(publish_dir) / path
    return int(info["version"]), str(path)


def write_latest(publish_dir: str | Path, version: int, path: str | Path, step: int) -> Path:
    """Point `latest.json` at a published version (write to a temporary file, then rename over the pointer)."""
    publish_dir = Path(publish_dir)
    pointer = publish_dir / LATEST
    fd, tmp = tempfile.mkstemp(prefix=".latest-", suffix=".json", dir=publish_dir)
    with os.fdopen(fd, "w") as f:
        json.dump({"version": version, "path": str(path), "step": step}, f)
    os.replace(tmp, pointer)
    return pointer


def publish_directory(build_dir: str | Path, target: str | Path) -> Path:
    """Move a finished directory into place under `target`, replacing an older one.

    A rename of a directory is atomic but cannot replace a non-empty one: the old one is renamed aside first, so
    a reader sees the old directory, briefly none, or the new one; never a mixture."""
    build_dir, target = Path(build_dir), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(build_dir, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target


def staging_dir(target: str | Path) -> Path:
    """A fresh directory next to `target` (same filesystem, so `publish_directory` is a rename)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.build-", dir=target.parent))
