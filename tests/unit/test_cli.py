"""The CLI's contract: config errors exit non-zero naming the key and the file, without a traceback; --help says what
orca-ray is, with an example per command; --version is the package's."""

import argparse
import shlex
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from orca_ray.cli import EXAMPLES, JOB_COMMANDS, build_parser, job_parser

REPO = Path(__file__).resolve().parents[2]
# orca-ray command -> the jobs/ script that runs it under `ray job submit`
JOB_SCRIPTS = {"run": "pipeline", "synthesize": "synthesize", "train": "train", "sample": "sample", "eval": "eval"}


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "orca_ray.cli", *args], capture_output=True, text=True)


def test_config_show_misspelt_key(tmp_path):
    bad = tmp_path / "typo.yaml"
    bad.write_text("loop:\n  iteratons: 3\n")
    result = _cli("config", "show", str(bad))
    assert result.returncode == 2
    assert "loop.iteratons: unknown key" in result.stderr
    assert str(bad) in result.stderr
    assert "Traceback" not in result.stderr


def test_config_show_prints_resolved_config():
    result = _cli("config", "show", "jobs/configs/tiny.yaml", "--set", "sampling.n=3")
    assert result.returncode == 0, result.stderr
    assert "  n: 3\n" in result.stdout
    assert "model: tiny-llama" in result.stdout


def test_config_keys_lists_every_section():
    result = _cli("config", "keys")
    assert result.returncode == 0
    for key in ("sampling.temperature", "training.preference.beta", "resources.trainer.workers"):
        assert key in result.stdout


def _subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(action.choices)


def test_help_says_what_orca_ray_is_and_shows_an_example_per_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    # Guards the regression of issue 25: the help opened with the developer docstring cut mid-sentence.
    assert "Parsers live here" not in text
    assert "Orca-Math" in text and "teacher" in text and "student" in text
    examples = text.split("examples, one per command:", 1)[1]
    for command in _subcommands():
        assert f"orca-ray {command}" in examples, f"no example for `orca-ray {command}` in --help"


def test_every_example_parses():
    parser = build_parser()
    assert sorted(name for name, _ in EXAMPLES) == sorted(_subcommands())
    for name, example in EXAMPLES:
        args = parser.parse_args(shlex.split(example)[1:])
        assert args.command == name


def test_version_comes_from_package_metadata():
    result = _cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"orca-ray {version('orca-ray')}"


def _options(parser: argparse.ArgumentParser) -> dict[str, str | None]:
    return {" ".join(a.option_strings): a.help for a in parser._actions if a.option_strings and a.dest != "help"}


@pytest.mark.parametrize("command", sorted(JOB_COMMANDS))
def test_a_job_takes_its_commands_options_with_the_same_help(command):
    """Guards issue 23: the jobs wrote their own parsers and their help drifted from the CLI's."""
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    cli = _options(subparsers.choices[command]) | {"-v --verbose": _options(build_parser())["-v --verbose"]}
    job = _options(job_parser(command, "doc"))
    assert job.pop("--config") == "run config YAML (see jobs/configs/)"
    assert job == cli


@pytest.mark.parametrize(("job", "command"), [(j, c) for c, j in JOB_SCRIPTS.items()])
def test_each_job_script_runs_its_command(job, command):
    source = (REPO / "jobs" / f"{job}.py").read_text()
    assert f'run_job("{command}", __doc__)' in source
    result = subprocess.run([sys.executable, f"jobs/{job}.py", "--help"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "--config CONFIG" in result.stdout and "ray job submit" in result.stdout
    for option in _options(job_parser(command, "doc")):
        assert option.split()[-1] in result.stdout
