"""Resume with a changed config on the tiny loop (issue 22): `orca-ray run --resume` with another
training.preference.method and sampling.n used to reuse every finished step and rewrite config.yaml and
report.json to say kto and n=3 for an iteration trained with DPO on n=2. Now it stops naming the keys, rewrites
nothing, and with --rerun-changed trains the iteration again under the new config, recording which config each
step ran under."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orca_ray import cli
from orca_ray.schemas import DPOPair, KTOExample, read_rows

pytestmark = pytest.mark.slow
TINY = Path(__file__).resolve().parents[2] / "jobs" / "configs" / "tiny.yaml"


def _run(tmp_path: Path, flags: list[str], *sets: str) -> int:
    sets = (f"output_dir={tmp_path}", "eval.after_every_stage=false", *sets)
    return cli.main(["run", str(TINY), "--run-id", "dpo-probe", *flags, *[a for s in sets for a in ("--set", s)]])


def test_resume_with_a_changed_config_stops_or_reruns_from_the_first_affected_step(ray_local, tmp_path, capsys):
    root = tmp_path / "dpo-probe"
    assert _run(tmp_path, [], "training.preference.method=dpo") == 0
    first = json.loads((root / "manifest.json").read_text())
    assert first["order"] == ["problems", "sft", "eval:sft", "iter-1", "eval:iter-1"]
    assert read_rows(root / "iter-1" / "preferences", DPOPair)
    record = {name: (root / name).read_bytes() for name in ("config.yaml", "report.json", "manifest.json")}
    capsys.readouterr()

    # The resume: another method and another n.
    assert _run(tmp_path, ["--resume"], "training.preference.method=kto", "sampling.n=3") == 2
    err = capsys.readouterr().err
    assert "training.preference.method: 'dpo' (recorded) -> 'kto' (now), used by iter-1" in err
    assert "sampling.n: 2 (recorded) -> 3 (now), used by iter-1" in err
    assert {name: (root / name).read_bytes() for name in record} == record  # the record is untouched

    # Re-run from the first step that depended on a changed key.
    assert _run(tmp_path, ["--rerun-changed"], "training.preference.method=kto", "sampling.n=3") == 2  # needs --resume
    assert _run(tmp_path, ["--resume", "--rerun-changed"], "training.preference.method=kto", "sampling.n=3") == 0
    after = json.loads((root / "manifest.json").read_text())
    assert after["order"] == first["order"]
    stages, before = after["stages"], first["stages"]
    for step in ("problems", "sft", "eval:sft"):  # reused, under the config they ran under
        assert (
            stages[step]["config"] == before[step]["config"]
            and stages[step]["finished_at"] == before[step]["finished_at"]
        )
    for step in ("iter-1", "eval:iter-1"):  # run again, under the new config
        assert stages[step]["config"] != before[step]["config"]
    new_config = (root / "configs" / f"{stages['iter-1']['config']}.yaml").read_text()
    assert "method: kto" in new_config and "\n  n: 3\n" in new_config
    assert "method: dpo" in (root / "configs" / f"{stages['sft']['config']}.yaml").read_text()
    assert read_rows(root / "iter-1" / "preferences", KTOExample)  # trained with KTO this time
    (superseded,) = (root / "superseded").iterdir()
    assert read_rows(superseded / "iter-1" / "preferences", DPOPair)  # the DPO iteration is kept aside
    assert json.loads((root / "report.json").read_text())["config"]["method"] == "kto"
