"""The run manifest: which stages of a run have finished, with their outputs, counts and timings. `--resume`
skips every stage marked done and reuses what it wrote. Written atomically, so a killed driver never leaves a
half-written manifest.

    >>> import tempfile, pathlib
    >>> m = Manifest(pathlib.Path(tempfile.mkdtemp()) / "manifest.json")
    >>> m.is_done("sft")
    False
    >>> m.mark_done("sft", {"adapter": "sft/adapter"}, seconds=1.5)["adapter"]
    'sft/adapter'
    >>> Manifest(m.path).is_done("sft")
    True

A training step (sft, iter-k) records its outputs with `trained_entry`; `policy_of` reads the policy back.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path


class Manifest:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.data: dict = {"stages": {}, "order": []}
        if self.path.is_file():
            self.data = json.loads(self.path.read_text())

    def is_done(self, stage: str) -> bool:
        return self.data["stages"].get(stage, {}).get("status") == "done"

    def get(self, stage: str) -> dict:
        return self.data["stages"].get(stage, {})

    def mark_started(self, stage: str, config: str | None = None) -> None:
        """`config`: the id of the config the stage runs under (the run keeps it as configs/<id>.yaml)."""
        entry = self.data["stages"].setdefault(stage, {})
        entry.update(status="running", started_at=time.strftime("%Y-%m-%dT%H:%M:%S"))
        if config is not None:
            entry["config"] = config
        self._save()

    def set_config(self, stages: list[str], config: str) -> None:
        """Record that `stages` ran under the config with id `config`."""
        for stage in stages:
            self.data["stages"][stage]["config"] = config
        self._save()

    def recorded(self) -> list[str]:
        """Every stage that started (finished or not), in the order each first started."""
        return list(self.data["stages"])

    def forget(self, stages: list[str]) -> None:
        """Drop stages, done or not, so that they run again."""
        for stage in stages:
            self.data["stages"].pop(stage, None)
        self.data["order"] = [s for s in self.data["order"] if s not in stages]
        self._save()

    def mark_done(self, stage: str, outputs: dict, seconds: float) -> dict:
        entry = self.data["stages"].setdefault(stage, {})
        entry.update(outputs)
        entry.update(status="done", seconds=round(seconds, 2), finished_at=time.strftime("%Y-%m-%dT%H:%M:%S"))
        if stage not in self.data["order"]:
            self.data["order"].append(stage)
        self._save()
        return entry

    def stages(self) -> list[tuple[str, dict]]:
        """Finished stages in the order they finished."""
        return [(name, self.data["stages"][name]) for name in self.data["order"] if self.is_done(name)]

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(self.data, indent=2, sort_keys=False))
        os.replace(tmp, self.path)


def trained_entry(result, counts: dict, **more) -> dict:
    """The manifest outputs of a training step: the policy it wrote (a LoRA adapter, or a full model: `full`), its
    counts with the optimizer steps, the learner's metrics, and `more` (a round's mode and policy version).
    `result`: the learner's TrainResult.

    >>> from types import SimpleNamespace
    >>> lora = SimpleNamespace(adapter_dir="sft/adapter", model_dir=None, steps=3, metrics={})
    >>> entry = trained_entry(lora, {"problems": 2})
    >>> policy_of(entry), entry["counts"]
    (('sft/adapter', None), {'problems': 2, 'train_steps': 3})
    """
    return {
        "policy": str(result.adapter_dir or result.model_dir),
        "full": result.adapter_dir is None,
        "counts": counts | {"train_steps": result.steps},
        "metrics": result.metrics,
        **more,
    }


def policy_of(entry: dict) -> tuple[str | None, str | None]:
    """(adapter, full model dir) of a training step's manifest entry (`trained_entry`)."""
    return (None, entry["policy"]) if entry.get("full") else (entry["policy"], None)
