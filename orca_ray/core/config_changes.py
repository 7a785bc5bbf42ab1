"""What a resumed run may reuse when its config changed: which config keys each step of the loop depends on, and
the comparison of the config a finished step ran under with the new one.

A step depends on the keys under its prefixes (below), less the keys that shape how it runs, not what it writes
(timeouts, concurrency, logging, checkpoint cadence). A key no step depends on (`loop.iterations`, `resources.*`
but the trainer's worker count, `tracking.*`, `output_dir`) may change on resume: extending a run by iterations
is the common case. A new config section or key is ignored until listed here; a new key inside a listed section
counts, which errs on the side of stopping.

    >>> old = {"training": {"preference": {"method": "dpo"}}, "loop": {"iterations": 1}}
    >>> new = {"training": {"preference": {"method": "kto"}}, "loop": {"iterations": 2}}
    >>> [(c.step, c.key, c.old, c.new) for c in step_changes([("sft", old), ("iter-1", old)], new)]
    [('iter-1', 'training.preference.method', 'dpo', 'kto')]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_TEACHER_OPERATIONS = ("teacher.timeout_s", "teacher.max_retries", "teacher.max_concurrency", "teacher.api_key_env")
_STUDENT_ENGINE = ("student.gpu_memory_utilization", "student.max_lora_rank")
_TRAINING_CADENCE = ("training.logging_steps", "training.keep_checkpoints", "training.checkpoint_every_steps")
_TRAINING = ("training", "student", "seed", "synthesis.enabled", "resources.trainer.workers")

# step kind -> (prefixes it depends on, keys under them it does not)
DEPENDENCIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "problems": (("data",), ()),
    "synthesis": (
        ("synthesis", "teacher", "student.model", "student.max_model_len", "judge.use_math_verify", "seed",
         "data.decontaminate", "data.decontamination_ngram", "data.decontamination_threshold",
         "training.sft.max_problems"),
        ("synthesis.max_concurrent_conversations", *_TEACHER_OPERATIONS),
    ),
    "sft": (_TRAINING, ("training.preference", *_TRAINING_CADENCE, *_STUDENT_ENGINE)),
    "iter": (
        (*_TRAINING, "sampling", "judge", "teacher", "loop"),
        ("training.sft", "loop.iterations", "judge.batch_size", *_TRAINING_CADENCE, *_STUDENT_ENGINE,
         *_TEACHER_OPERATIONS),
    ),
    "eval": (
        ("eval", "student", "judge", "teacher", "seed"),
        ("eval.after_every_stage", "judge.batch_size", *_STUDENT_ENGINE, *_TEACHER_OPERATIONS),
    ),
}  # fmt: skip
# Top-level sections no step's outputs depend on (the run's name and place, scheduling, experiment trackers); the
# trainer's worker count, which sets the global batch, is the exception listed above.
SHAPES_NO_STEP = ("name", "run_id", "output_dir", "resources", "tracking")
# What an iteration trains on also depends on how SFT split the problems (training.sft.max_problems, and whether
# there is an SFT stage to set problems aside for).
_ALSO = {"iter": ("training.sft.max_problems", "training.sft.enabled")}


@dataclass(frozen=True)
class Change:
    step: str
    key: str
    old: Any
    new: Any


def step_kind(step: str) -> str:
    """'problems', 'synthesis', 'sft', 'iter' (iter-1, iter-2, ...) or 'eval' (eval:base, eval:iter-1, ...).

    >>> step_kind("iter-3"), step_kind("eval:sft")
    ('iter', 'eval')
    """
    if step.startswith("eval:"):
        return "eval"
    if step.startswith("iter-"):
        return "iter"
    if step not in DEPENDENCIES:
        raise ValueError(f"unknown step {step!r}: its config dependencies are not declared in {__name__}")
    return step


def _under(key: str, prefixes: Iterable[str]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def depends_on(step: str, key: str) -> bool:
    """Whether the outputs of `step` depend on the config key `key` ('training.preference.method').

    >>> depends_on("iter-1", "training.preference.method"), depends_on("iter-1", "loop.iterations")
    (True, False)
    """
    kind = step_kind(step)
    prefixes, ignored = DEPENDENCIES[kind]
    if _under(key, _ALSO.get(kind, ())):
        return True
    return _under(key, prefixes) and not _under(key, ignored)


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted keys of a config tree; list items are numbered as `--set` names them ('data.train.0.n'), and a list
    of plain values is one value.

    >>> flatten({"data": {"train": [{"kind": "symbolic", "n": 16}]}, "families": ["ages"]})
    {'data.train.0.kind': 'symbolic', 'data.train.0.n': 16, 'families': ['ages']}
    """
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, list) and any(isinstance(v, dict | list) for v in tree):
        items = ((str(i), v) for i, v in enumerate(tree))
    else:
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in items:
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


_MISSING = "(not set)"


def changed_keys(old: dict, new: dict) -> dict[str, tuple[Any, Any]]:
    """key -> (old, new) for every key whose value differs (a key in one tree only shows as '(not set)')."""
    a, b = flatten(old), flatten(new)
    return {
        k: (a.get(k, _MISSING), b.get(k, _MISSING))
        for k in sorted({*a, *b})
        if a.get(k, _MISSING) != b.get(k, _MISSING)
    }


def step_changes(recorded: Iterable[tuple[str, dict]], new: dict) -> list[Change]:
    """The changes a resume would make under the steps already run: for each (step, the config tree it ran
    under), the keys it depends on whose value differs in `new`. In the order of `recorded`."""
    changes = []
    for step, old in recorded:
        for key, (before, after) in changed_keys(old, new).items():
            if depends_on(step, key):
                changes.append(Change(step, key, before, after))
    return changes


def free_changes(recorded: Iterable[tuple[str, dict]], new: dict) -> dict[str, tuple[Any, Any]]:
    """The keys that changed but that no step already run depends on (key -> (old, new))."""
    recorded = list(recorded)
    bound = {c.key for c in step_changes(recorded, new)}
    free: dict[str, tuple[Any, Any]] = {}
    for _step, old in recorded:
        free |= {k: v for k, v in changed_keys(old, new).items() if k not in bound}
    return free


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def describe(changes: list[Change]) -> str:
    """One line per changed key: the key, its recorded and its new value, and the steps that depended on it.

    >>> print(describe([Change("iter-1", "sampling.n", 2, 3), Change("eval:iter-1", "sampling.n", 2, 3)]))
      sampling.n: 2 (recorded) -> 3 (now), used by iter-1, eval:iter-1
    """
    by_key: dict[tuple[str, str], list[Change]] = {}
    for change in changes:  # steps that ran under different configs may have recorded different values
        by_key.setdefault((change.key, repr(change.old)), []).append(change)
    lines = []
    for (key, _), group in by_key.items():
        steps = ", ".join(dict.fromkeys(c.step for c in group))
        lines.append(f"  {key}: {_short(group[0].old)} (recorded) -> {_short(group[0].new)} (now), used by {steps}")
    return "\n".join(lines)
