"""The `orca-ray` command. Parsers live here; each subcommand's work lives in orca_ray/commands/<name>.py and is
imported only when that subcommand runs, so `orca-ray config show` never pays for importing vLLM."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from orca_ray.errors import OrcaRayError

DESCRIPTION = """\
orca-ray teaches a small language model math word problems the Orca-Math way: a teacher
writes step-by-step solutions, the student is fine-tuned on them (SFT), then it practises:
it samples answers, the teacher judges them, and KTO or DPO learns from the right and the
wrong ones, round after round, with held-out accuracy after every stage. One YAML config
runs it on Ray, vLLM and TRL, on a laptop's CPU or on a GPU cluster."""

# One example per command, in the order a new user meets them (tests/unit/test_cli.py checks every command has one).
EXAMPLES = (
    ("demo", "orca-ray demo"),
    ("run", "orca-ray run jobs/configs/tiny.yaml --set loop.iterations=2"),
    ("report", "orca-ray report runs/<run-id>"),
    ("config", "orca-ray config keys"),
    ("models", "orca-ray models prepare smollm2-135m-instruct"),
    ("problems", "orca-ray problems generate --n 100 --out problems.jsonl"),
    ("judge", "orca-ray judge responses.jsonl --out verdicts.jsonl"),
    ("sample", "orca-ray sample jobs/configs/demo.yaml --problems problems.jsonl --out runs/samples"),
    ("eval", "orca-ray eval jobs/configs/demo.yaml --data gsm8k-test --limit 100"),
    ("train", "orca-ray train jobs/configs/demo.yaml --method sft --data runs/<id>/sft/data.parquet"),
    ("synthesize", "orca-ray synthesize jobs/configs/demo.yaml --set synthesis.seeds=20"),
)


def _epilog() -> str:
    width = max(len(name) for name, _ in EXAMPLES)
    lines = [f"  {name.ljust(width)}  {example}" for name, example in EXAMPLES]
    return "\n".join(
        [
            "examples, one per command:",
            *lines,
            "",
            "`orca-ray COMMAND --help` shows a command's options; README.md the rest.",
        ]
    )


def package_version() -> str:
    """orca-ray's version from the installed package's metadata (pyproject.toml's `version`)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("orca-ray")
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown (not installed)"


def _add_config(p: argparse.ArgumentParser, required: bool = True, as_option: bool = False) -> None:
    if as_option:
        p.add_argument("--config", required=True, help="run config YAML (see jobs/configs/)")
    elif required:
        p.add_argument("config", help="run config YAML (see jobs/configs/)")
    else:
        p.add_argument("config", nargs="?", default=None, help="run config YAML (default: the built-in defaults)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set sampling.n=2 (repeatable; applied last)",
    )


def _add_verbose(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show everything at DEBUG (Ray, vLLM, Ray Data, TRL output; a run keeps it in runs/<id>/logs/ anyway);"
        " ORCA_RAY_LOG_LEVEL=INFO shows everything at INFO",
    )


def _sample_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--problems", required=True, help="problems file (JSONL, GSM8K JSONL, Parquet or CSV)")
    p.add_argument("--out", required=True, help="output directory for Parquet shards")
    p.set_defaults(handler="sample:main")


def _eval_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="model name or path (default: the config's student)")
    p.add_argument("--adapter", default=None, help="LoRA adapter directory")
    p.add_argument("--data", required=True, help="gsm8k-test, a config eval set name, or a problems file")
    p.add_argument("--limit", type=int, default=None, help="evaluate at most N problems")
    p.add_argument("--out", default=None, help="output directory (default: <output_dir>/eval-<timestamp>)")
    p.set_defaults(handler="eval:main")


def _train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", choices=["sft", "dpo", "kto"], required=True)
    p.add_argument("--data", required=True, help="directory or file of training rows (Parquet or JSONL)")
    p.add_argument("--out", default=None, help="output directory (default: <output_dir>/train-<method>)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    p.set_defaults(handler="train:main")


def _synthesize_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default=None, help="output directory (default: <output_dir>/<run_id>/synthesis)")
    p.set_defaults(handler="synthesize:main")


def _run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--resume", action="store_true", help="continue the run named by run_id or --run-id")
    p.add_argument(
        "--rerun-changed",
        action="store_true",
        help="with --resume: when the config changes a key a finished step depended on, run again from the first "
        "such step (without it, the resume stops and names the keys)",
    )
    p.add_argument("--run-id", default=None, help="run id (default: the config's, else <name>-<timestamp>)")
    p.set_defaults(handler="run:main")


# The commands that jobs/<name>.py run under `ray job submit`, with their options: the job and the command share
# one definition, so their help cannot drift apart.
JOB_COMMANDS = {
    "run": _run_options,
    "synthesize": _synthesize_options,
    "train": _train_options,
    "sample": _sample_options,
    "eval": _eval_options,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orca-ray",
        description=DESCRIPTION,
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"orca-ray {package_version()}")
    _add_verbose(parser)
    sub = parser.add_subparsers(title="commands", dest="command", required=True, metavar="COMMAND")

    models = sub.add_parser("models", help="prepare models as local directories")
    msub = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    p = msub.add_parser("prepare", help="print a local directory that vLLM and transformers load")
    p.add_argument("name", help="smollm2-135m-instruct, tiny-llama, a directory or a hub id")
    p.set_defaults(handler="models:prepare")
    p = msub.add_parser("tiny", help="build the tiny random test model and print its directory")
    p.set_defaults(handler="models:tiny")

    config = sub.add_parser("config", help="inspect run configs")
    csub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    p = csub.add_parser("show", help="print the resolved config")
    _add_config(p)
    p.set_defaults(handler="config:show")
    p = csub.add_parser("keys", help="print every config key with its default and help")
    p.set_defaults(handler="config:keys")

    problems = sub.add_parser("problems", help="the built-in symbolic teacher's problems")
    psub = problems.add_subparsers(dest="problems_command", required=True, metavar="ACTION")
    p = psub.add_parser("generate", help="write generated problems as JSONL")
    p.add_argument("--n", type=int, required=True, help="number of problems")
    p.add_argument("--seed", type=int, default=0, help="generator seed")
    p.add_argument("--families", nargs="+", default=None, help="families to draw from (default: all)")
    p.add_argument("--min-steps", type=int, default=1, help="fewest reasoning steps")
    p.add_argument("--max-steps", type=int, default=6, help="most reasoning steps")
    p.add_argument("--harder", type=int, default=0, help="apply the 'make it harder' transform this many times")
    p.add_argument("--out", required=True, help="output JSONL file ('-' for stdout)")
    p.set_defaults(handler="problems:generate")
    p = psub.add_parser("families", help="list the problem families")
    p.set_defaults(handler="problems:families")

    p = sub.add_parser("judge", help="judge responses against references with the rule tier")
    p.add_argument("input", help="JSONL with question, reference and response on each line")
    p.add_argument("--out", required=True, help="output JSONL ('-' for stdout)")
    p.add_argument("--on-bad-row", choices=["error", "quarantine"], default="error", help="malformed lines")
    p.add_argument("--no-math-verify", action="store_true", help="rules only, without math-verify")
    p.set_defaults(handler="judge:main")

    for name, help_text in (
        ("sample", "student samples (and verdicts) for a problem file"),
        ("eval", "greedy pass@1 of a model on an evaluation set"),
        ("train", "SFT, DPO or KTO on Ray Train"),
        ("synthesize", "Agent-Instruct: expand seed problems with AutoGen agents"),
        ("run", "the whole Orca-Math loop"),
    ):
        p = sub.add_parser(name, help=help_text)
        _add_config(p)
        JOB_COMMANDS[name](p)

    p = sub.add_parser("report", help="write a run's report again (report.html, figures) from its directory")
    p.add_argument("run_dir", help="a run directory, e.g. runs/<run-id>")
    p.set_defaults(handler="report:main")

    p = sub.add_parser("demo", help="the embedded demo: SmolLM2 + the symbolic teacher on this machine")
    _add_config(p, required=False)
    p.add_argument("--resume", action="store_true", help="continue the last demo run")
    p.set_defaults(handler="demo:main")
    return parser


# The commands whose terminal tells a run's story (orca_ray/console.py); the others show every INFO line.
STORY_COMMANDS = ("run:main", "demo:main")


def job_parser(command: str, description: str) -> argparse.ArgumentParser:
    """The parser of jobs/<name>.py: `orca-ray <command>`'s options, with the config as --config (the form that
    `ray job submit -- python jobs/pipeline.py --config ...` takes) and the job's docstring as its description."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_config(parser, as_option=True)
    _add_verbose(parser)
    JOB_COMMANDS[command](parser)
    return parser


def _dispatch(args: argparse.Namespace, name: str) -> int:
    """Run a parsed command's handler; `name` prefixes its errors (orca-ray, or the job's name)."""
    from orca_ray.console import configure_console

    configure_console(args.verbose, tell_story=args.handler in STORY_COMMANDS)
    module_name, _, function_name = args.handler.partition(":")
    handler = getattr(importlib.import_module(f"orca_ray.commands.{module_name}"), function_name)
    try:
        return int(handler(args) or 0)
    except OrcaRayError as err:
        print(f"{name}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    return _dispatch(build_parser().parse_args(argv), "orca-ray")


def run_job(command: str, description: str, argv: list[str] | None = None) -> int:
    """What jobs/<name>.py runs: `orca-ray <command>` with the job's arguments."""
    name = Path(sys.argv[0]).stem or command
    return _dispatch(job_parser(command, description).parse_args(argv), name)


if __name__ == "__main__":
    sys.exit(main())
