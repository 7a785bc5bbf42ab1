"""`orca-ray demo`: the embedded default on this machine: SmolLM2-135M-Instruct learns from the symbolic teacher
(synthesis, SFT, then a KTO iteration), evaluated on held-out problems after every stage. No network needed."""

from __future__ import annotations

from pathlib import Path

from orca_ray.config import load_config
from orca_ray.errors import ConfigError

DEMO_CONFIG = Path(__file__).resolve().parents[2] / "jobs" / "configs" / "demo.yaml"


def _last_demo_run(output_dir: str, name: str) -> str:
    runs = sorted(p for p in Path(output_dir).glob(f"{name}-*") if (p / "manifest.json").is_file())
    if not runs:
        raise ConfigError(f"--resume: no earlier demo run under {output_dir}/")
    return runs[-1].name


def main(args) -> int:
    from orca_ray.commands.run import run_and_report

    path = args.config or DEMO_CONFIG
    if not Path(path).is_file():
        raise ConfigError(f"{path}: demo config not found (run from a clone of the repository, or pass one)")
    config = load_config(path, args.overrides)
    run_id = _last_demo_run(config.output_dir, config.name) if args.resume else None
    return run_and_report(config, run_id, args.resume)
