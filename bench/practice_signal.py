"""Where does a practice round's signal go? Reads a finished run directory and prints, per iteration: the policy
version and adapter that wrote its samples (the previous stage's), the problems whose attempts were all right,
mixed (the informative ones for KTO) or all wrong, the desirable/undesirable balance against TRL's guidance
(desirable_weight x positives / (undesirable_weight x negatives) between 1 and 4/3), and how far training moved
the policy (loss, rewards, margins, KL, log-probabilities of desirable and undesirable completions, first and last
logged step); and, per evaluation, the adapter it loaded.

    .venv/bin/python bench/practice_signal.py runs/<run-id>
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow.parquet as pq
import yaml

# TRL's KTO/DPO log keys as the learner flattens them ('rewards/chosen' -> 'train/rewards_chosen').
MOVEMENT_KEYS = (
    "loss",
    "rewards_chosen",
    "rewards_rejected",
    "rewards_margins",
    "kl",
    "logps_chosen",
    "logps_rejected",
    "grad_norm",
    "learning_rate",
)


def rows(directory: Path) -> list[dict]:
    files = sorted(directory.glob("*.parquet")) if directory.is_dir() else []
    return [r for f in files for r in pq.read_table(f).to_pylist()]


def outcome_shares(verdicts: list[dict]) -> Counter:
    by_problem: dict[str, list[str]] = defaultdict(list)
    for v in verdicts:
        by_problem[v["problem_id"]].append(v["verdict"])
    shares: Counter = Counter()
    for decided in by_problem.values():
        right, wrong = "correct" in decided, "incorrect" in decided
        shares["mixed" if right and wrong else "all right" if right else "all wrong" if wrong else "undecided"] += 1
    return shares


def describe_iteration(root: Path, name: str, config: dict) -> None:
    it = root / name
    verdicts = rows(it / "verdicts")
    versions = Counter((v.get("policy_version"), v.get("adapter")) for v in verdicts)
    print(f"{name}: {len(verdicts)} samples of {len({v['problem_id'] for v in verdicts})} problems")
    for (version, adapter), n in sorted(versions.items(), key=str):
        print(f"  written by policy version {version} ({adapter or 'base weights'}): {n}")
    print(f"  verdicts: {dict(Counter(v['verdict'] for v in verdicts))}")
    print(f"  problems: {dict(outcome_shares(verdicts))}")
    prefs = rows(it / "preferences")
    pref = config["training"]["preference"]
    if prefs and "label" in prefs[0]:
        labels = Counter((r["label"], r.get("origin")) for r in prefs)
        positives = sum(n for (label, _), n in labels.items() if label)
        negatives = sum(n for (label, _), n in labels.items() if not label)
        balance = pref["desirable_weight"] * positives / max(1, pref["undesirable_weight"] * negatives)
        print(f"  KTO rows: {dict(labels)}")
        print(
            f"  balance: {pref['desirable_weight']} x {positives} / ({pref['undesirable_weight']} x {negatives}) "
            f"= {balance:.2f} (TRL's guidance: 1 to 1.33)"
        )
    elif prefs:
        print(f"  DPO pairs: {len(prefs)}")
    result = it / "train" / "train_result.json"
    if result.is_file():
        history = json.loads(result.read_text())["history"]
        if history:
            first, last = history[0], history[-1]
            print(f"  training: {len(history)} logged steps; first -> last:")
            for key in MOVEMENT_KEYS:
                a, b = first.get(f"train/{key}"), last.get(f"train/{key}")
                if a is not None or b is not None:
                    print(f"    {key:16s} {a!s:>10.10} -> {b!s:>10.10}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    args = parser.parse_args()
    root = Path(args.run_dir)
    if not (root / "manifest.json").is_file():
        sys.exit(f"{root}: no manifest.json (not a run directory)")
    config = yaml.safe_load((root / "config.yaml").read_text())
    stages = json.loads((root / "manifest.json").read_text())["stages"]
    for name, entry in stages.items():
        if name.startswith("eval:"):
            for s in entry.get("summaries", []):
                shown = f"{s['accuracy']:.1%} ({s['correct']}/{s['problems']})"
                print(f"{name} {s['set']}: {shown}, adapter {s.get('adapter')}")
        elif name.startswith("iter-"):
            describe_iteration(root, name, config)


if __name__ == "__main__":
    main()
