"""The pipeline's metrics as flat `stage/name` numbers: the canonical registry (kind, unit, help) and the pure
functions that turn counts and timings into such dicts. `distributed/telemetry.py` sends them on.

    >>> stage_metrics("sampler", rows=64, tokens=8000, seconds=4.0, in_flight=32)["sampler/tokens_per_s"]
    2000.0
    >>> prometheus_name("judge/pass_rate")
    'orca_ray_judge_pass_rate'
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from orca_ray.schemas import VERDICTS

COUNTER, GAUGE, HISTOGRAM = "counter", "gauge", "histogram"
KINDS = (COUNTER, GAUGE, HISTOGRAM)

# Stages that report the generic throughput metrics of `stage_metrics`.
STAGES = ("synthesis", "teacher", "sampler", "judge", "preference", "learner", "eval")

# Ray prefixes every application metric with "ray_" when it exports to Prometheus, and OpenTelemetry adds "_total"
# to counters (both seen in a scrape of Ray 2.60's metrics endpoint): the series a Grafana query must name.
RAY_EXPORT_PREFIX = "ray_"
PROMETHEUS_PREFIX = "orca_ray_"
_KEY = re.compile(r"^[a-z][a-z0-9_]*/[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class MetricSpec:
    """One metric: its flat key, what kind of instrument carries it, its unit and its help text.

    Counter values in a flat dict are increments since the previous report (what happened in this batch);
    gauges are the current value; histogram values are one observation."""

    key: str
    kind: str
    description: str
    unit: str = ""
    boundaries: tuple[float, ...] = ()

    @property
    def stage(self) -> str:
        return self.key.split("/", 1)[0]

    @property
    def prometheus_name(self) -> str:
        return prometheus_name(self.key)

    @property
    def exported_name(self) -> str:
        """The series name Prometheus scrapes from Ray (histograms add _bucket, _sum and _count to it)."""
        suffix = "_total" if self.kind == COUNTER else ""
        return f"{RAY_EXPORT_PREFIX}{self.prometheus_name}{suffix}"


def prometheus_name(key: str) -> str:
    """`stage/name` -> `orca_ray_stage_name` (Prometheus allows only [a-zA-Z0-9_:] in names)."""
    if not _KEY.match(key):
        raise ValueError(f"metric key {key!r} is not of the form 'stage/name' (lower case, digits, underscores)")
    return PROMETHEUS_PREFIX + key.replace("/", "_")


class MetricNames:
    """The keys the pipeline reports, as constants so that a typo fails at import rather than on a dashboard.
    Per-stage throughput keys come from `stage_key(stage, name)` for every stage in STAGES."""

    SAMPLER_SAMPLES_PER_S = "sampler/rows_per_s"
    SAMPLER_TOKENS_PER_S = "sampler/tokens_per_s"
    SAMPLER_IN_FLIGHT = "sampler/rows_in_flight"
    SAMPLER_BATCH_SECONDS = "sampler/batch_seconds"
    JUDGE_PASS_RATE = "judge/pass_rate"
    JUDGE_UNDECIDABLE_SHARE = "judge/undecidable_share"
    JUDGE_AUDIT_DISAGREEMENTS = "judge/audit_disagreements"
    PAIRS_BUILT = "preference/pairs_built"
    KTO_EXAMPLES_BUILT = "preference/kto_examples_built"
    TRAIN_LOSS = "learner/train_loss"
    LEARNING_RATE = "learner/learning_rate"
    TRAIN_STEPS = "learner/steps"
    STEP_SECONDS = "learner/step_seconds"
    POLICY_VERSION = "loop/policy_version"
    ITERATION = "loop/iteration"
    STALENESS = "loop/staleness"
    DISCARDED_STALE = "loop/discarded_stale"
    EVAL_ACCURACY = "eval/accuracy"
    ADAPTER_TRANSPORT_SECONDS = "adapter/transport_seconds"
    ADAPTER_DELIVERY_SECONDS = "adapter/delivery_seconds"
    ADAPTER_NODES_REACHED = "adapter/nodes_reached"
    ADAPTER_MEGABYTES = "adapter/megabytes"


def stage_key(stage: str, name: str) -> str:
    return f"{stage}/{name}"


def _throughput_specs(stage: str) -> list[MetricSpec]:
    return [
        MetricSpec(
            stage_key(stage, "rows_per_s"), GAUGE, f"Rows {stage} finished per second (sampler: samples/s).", "rows/s"
        ),
        MetricSpec(
            stage_key(stage, "tokens_per_s"), GAUGE, f"Tokens {stage} generated or consumed per second.", "tokens/s"
        ),
        MetricSpec(stage_key(stage, "rows_in_flight"), GAUGE, f"Rows handed to {stage} and not yet finished.", "rows"),
        MetricSpec(stage_key(stage, "rows"), COUNTER, f"Rows {stage} finished.", "rows"),
        MetricSpec(stage_key(stage, "tokens"), COUNTER, f"Tokens {stage} generated or consumed.", "tokens"),
    ]


_SECONDS_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_N = MetricNames
_SPECIFIC = [
    MetricSpec(_N.SAMPLER_BATCH_SECONDS, HISTOGRAM, "Seconds one sampler batch took.", "s", _SECONDS_BUCKETS),
    MetricSpec(_N.JUDGE_PASS_RATE, GAUGE, "Share of judged samples that are correct, in the last batch.", "ratio"),
    MetricSpec(_N.JUDGE_UNDECIDABLE_SHARE, GAUGE, "Share of judged samples no tier could decide.", "ratio"),
    MetricSpec(_N.JUDGE_AUDIT_DISAGREEMENTS, COUNTER, "LLM audits that disagreed with the rule judge.", "rows"),
    *[MetricSpec(f"judge/{v}", COUNTER, f"Samples judged {v}.", "rows") for v in VERDICTS],
    # The judge's tiers (orca_ray/core/judge.py: TIER_RULE, TIER_LLM, TIER_NONE), named here to keep core free of
    # a dependency on the judge; tests/unit/test_metrics.py checks judge_metrics' keys against this registry.
    *[
        MetricSpec(f"judge/tier_{t}", COUNTER, f"Samples decided by the {t} tier.", "rows")
        for t in ("rule", "llm", "none")
    ],
    MetricSpec(_N.PAIRS_BUILT, COUNTER, "DPO preference pairs built from judged samples.", "pairs"),
    MetricSpec(_N.KTO_EXAMPLES_BUILT, COUNTER, "KTO examples (desirable or not) built from judged samples.", "rows"),
    MetricSpec(_N.TRAIN_LOSS, GAUGE, "Training loss of the last logged step.", "loss"),
    MetricSpec(_N.LEARNING_RATE, GAUGE, "Learning rate of the last logged step.", ""),
    MetricSpec(_N.TRAIN_STEPS, COUNTER, "Optimizer steps taken.", "steps"),
    MetricSpec(_N.STEP_SECONDS, HISTOGRAM, "Seconds one optimizer step took.", "s", _SECONDS_BUCKETS),
    MetricSpec(_N.POLICY_VERSION, GAUGE, "Version of the student adapter the samplers serve (0: base or SFT).", ""),
    MetricSpec(_N.ITERATION, GAUGE, "Practice iteration in progress.", ""),
    MetricSpec(
        _N.STALENESS,
        GAUGE,
        "Policy versions between the newest adapter and the oldest sample in the last training batch.",
        "versions",
    ),
    MetricSpec(
        _N.DISCARDED_STALE, COUNTER, "Samples discarded for being more than loop.max_staleness versions old.", "rows"
    ),
    MetricSpec(_N.EVAL_ACCURACY, GAUGE, "Greedy accuracy on an evaluation set (label: the set's name).", "ratio"),
    MetricSpec(
        _N.ADAPTER_TRANSPORT_SECONDS,
        GAUGE,
        "object_store transport: seconds the slowest engine took to fetch a new adapter and write it to its node.",
        "s",
    ),
    MetricSpec(
        _N.ADAPTER_DELIVERY_SECONDS,
        GAUGE,
        "object_store transport: seconds from reading a new adapter to its arrival on every sampler node.",
        "s",
    ),
    MetricSpec(_N.ADAPTER_NODES_REACHED, GAUGE, "Sampler nodes a new adapter was written to.", "nodes"),
    MetricSpec(_N.ADAPTER_MEGABYTES, GAUGE, "Size of an adapter shipped through the object store.", "MB"),
]

REGISTRY: dict[str, MetricSpec] = {}
for _spec in [spec for stage in STAGES for spec in _throughput_specs(stage)] + _SPECIFIC:
    if _spec.key in REGISTRY:
        raise ValueError(f"metric {_spec.key} registered twice")
    prometheus_name(_spec.key)  # validates the key's form at import
    REGISTRY[_spec.key] = _spec


def spec_for(key: str) -> MetricSpec | None:
    """The registered spec of a key, or None for keys outside the registry (logged, but not exported)."""
    return REGISTRY.get(key)


def throughput(count: float, seconds: float) -> float:
    """Items per second; 0.0 when no time has passed (a first, empty report).

    >>> throughput(300, 2.0)
    150.0
    >>> throughput(5, 0.0)
    0.0
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    return float(count) / seconds if seconds > 0 else 0.0


def ratio(part: float, whole: float) -> float:
    """part / whole, 0.0 for an empty whole.

    >>> ratio(3, 4)
    0.75
    """
    return float(part) / whole if whole > 0 else 0.0


def stage_metrics(stage: str, rows: int, tokens: int, seconds: float, in_flight: int = 0) -> dict[str, float]:
    """Throughput of one stage over one reporting interval: rows/s, tokens/s, rows in flight, and the counts.

    >>> sorted(stage_metrics("judge", rows=10, tokens=0, seconds=2.0))
    ['judge/rows', 'judge/rows_in_flight', 'judge/rows_per_s', 'judge/tokens', 'judge/tokens_per_s']
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; stages are {STAGES}")
    if in_flight < 0 or tokens < 0:
        raise ValueError(f"in_flight and tokens must be >= 0, got {in_flight} and {tokens}")
    return {
        stage_key(stage, "rows_per_s"): throughput(rows, seconds),
        stage_key(stage, "tokens_per_s"): throughput(tokens, seconds),
        stage_key(stage, "rows_in_flight"): float(in_flight),
        stage_key(stage, "rows"): float(rows),
        stage_key(stage, "tokens"): float(tokens),
    }


def judge_rates(counts: Mapping[str, float]) -> dict[str, float]:
    """Pass rate and undecidable share from flat 'judge/<verdict>' counts (as `core.judge.judge_metrics` gives).

    >>> judge_rates({"judge/correct": 3, "judge/incorrect": 1, "judge/undecidable": 0})["judge/pass_rate"]
    0.75
    """
    judged = sum(counts.get(f"judge/{v}", 0) for v in VERDICTS)
    return {
        MetricNames.JUDGE_PASS_RATE: ratio(counts.get("judge/correct", 0), judged),
        MetricNames.JUDGE_UNDECIDABLE_SHARE: ratio(counts.get("judge/undecidable", 0), judged),
    }


# The normal quantile of a two-sided 95% interval.
Z_95 = 1.959963984540054


def wilson_interval(correct: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default): unlike p +- z*sqrt(p(1-p)/n) it stays inside
    [0, 1] and is not empty at 0 or n correct, which is where a small student's accuracy on 150 problems sits.

    >>> [round(x, 4) for x in wilson_interval(1, 10)]
    [0.0179, 0.4042]
    >>> [round(x, 4) for x in wilson_interval(0, 150)]
    [0.0, 0.025]
    >>> wilson_interval(0, 0)
    (0.0, 1.0)
    """
    if n < 0 or not 0 <= correct <= n:
        raise ValueError(f"need 0 <= correct <= n, got correct={correct}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # At 0 or n correct, centre - half (or + half) is the proportion itself in exact arithmetic but lands a few
    # ulps beside it in floats (5.6e-17 for 0 of 3): the interval must still hold p, or error bars go negative.
    return min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half))


def finite_or_none(value: float) -> float | None:
    """NaN and infinities become None: JSON has no spelling for them and Prometheus gauges should skip them."""
    value = float(value)
    return value if math.isfinite(value) else None


def readable(value: float) -> float:
    """A number for a log line: 4 decimals, or 4 significant digits below 0.01, where 4 decimals would show a
    learning rate of 3.5e-05 as 0.0.

    >>> readable(10759.0), readable(0.463788), readable(3.5e-05)
    (10759.0, 0.4638, 3.5e-05)
    """
    value = float(value)
    return round(value, 4) if value == 0 or abs(value) >= 0.01 or not math.isfinite(value) else float(f"{value:.4g}")


def format_line(metrics: Mapping[str, float]) -> str:
    """A readable one-liner for the log: keys sorted, numbers in 4 significant digits.

    >>> format_line({"sampler/tokens_per_s": 1234.5678, "judge/pass_rate": 0.25})
    'judge/pass_rate=0.25 sampler/tokens_per_s=1235'
    """
    parts = []
    for key in sorted(metrics):
        value = finite_or_none(metrics[key])
        parts.append(f"{key}={'nan' if value is None else format(value, '.4g')}")
    return " ".join(parts)
