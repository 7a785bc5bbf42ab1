"""The metric registry and the pure functions that fill flat `stage/name` dicts (no Ray)."""

from __future__ import annotations

import json
import logging
import math

import pytest

from orca_ray.core import judge
from orca_ray.core import metrics as m
from orca_ray.core.metrics import REGISTRY, MetricNames, prometheus_name
from orca_ray.distributed.telemetry import MetricsLogger, metrics_file, read_metrics
from orca_ray.schemas import Sample

PROMETHEUS_NAME = r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"


def test_every_registered_metric_has_a_kind_a_help_text_and_a_prometheus_safe_name():
    import re

    for key, spec in REGISTRY.items():
        assert spec.key == key
        assert spec.kind in m.KINDS, key
        assert spec.description.strip(), key
        assert re.match(PROMETHEUS_NAME, spec.exported_name), key
        assert spec.prometheus_name == "orca_ray_" + key.replace("/", "_")
        assert (spec.kind == m.HISTOGRAM) == bool(spec.boundaries), key
        assert list(spec.boundaries) == sorted(spec.boundaries), key


def test_metric_names_constants_are_all_registered():
    constants = {v for k, v in vars(MetricNames).items() if k.isupper()}
    assert constants, "MetricNames lost its constants"
    assert constants - REGISTRY.keys() == set()


def test_the_issue_s_headline_metrics_are_registered_with_the_right_kind():
    expected = {
        "sampler/rows_per_s": m.GAUGE,  # samples/s
        "sampler/tokens_per_s": m.GAUGE,
        "sampler/rows_in_flight": m.GAUGE,
        "judge/pass_rate": m.GAUGE,
        "preference/pairs_built": m.COUNTER,
        "learner/train_loss": m.GAUGE,
        "loop/policy_version": m.GAUGE,
        "loop/staleness": m.GAUGE,
        "loop/discarded_stale": m.COUNTER,
    }
    assert {k: REGISTRY[k].kind for k in expected} == expected


def test_exported_names_follow_ray_s_prefix_and_counter_suffix():
    assert REGISTRY["judge/pass_rate"].exported_name == "ray_orca_ray_judge_pass_rate"
    assert REGISTRY["preference/pairs_built"].exported_name == "ray_orca_ray_preference_pairs_built_total"
    assert REGISTRY["learner/step_seconds"].exported_name == "ray_orca_ray_learner_step_seconds"


@pytest.mark.parametrize("bad", ["pass_rate", "Judge/pass", "judge/pass-rate", "judge/", "a/b/c", "judge/pass rate"])
def test_prometheus_name_rejects_keys_that_are_not_stage_slash_name(bad):
    with pytest.raises(ValueError, match="stage/name"):
        prometheus_name(bad)


def test_throughput_and_ratio():
    assert m.throughput(300, 2.0) == 150.0
    assert m.throughput(10, 0) == 0.0
    assert m.throughput(10, -1) == 0.0
    with pytest.raises(ValueError):
        m.throughput(-1, 1.0)
    assert m.ratio(1, 4) == 0.25
    assert m.ratio(1, 0) == 0.0


def test_stage_metrics_computes_rates_from_counts_and_time():
    out = m.stage_metrics("sampler", rows=64, tokens=8000, seconds=4.0, in_flight=32)
    assert out == {
        "sampler/rows_per_s": 16.0,
        "sampler/tokens_per_s": 2000.0,
        "sampler/rows_in_flight": 32.0,
        "sampler/rows": 64.0,
        "sampler/tokens": 8000.0,
    }
    assert set(out) <= REGISTRY.keys()


def test_stage_metrics_keys_are_registered_for_every_stage():
    for stage in m.STAGES:
        assert set(m.stage_metrics(stage, 1, 1, 1.0)) <= REGISTRY.keys(), stage


def test_stage_metrics_rejects_unknown_stages_and_negative_counts():
    with pytest.raises(ValueError, match="unknown stage"):
        m.stage_metrics("smapler", 1, 1, 1.0)
    with pytest.raises(ValueError):
        m.stage_metrics("judge", 1, 1, 1.0, in_flight=-1)


def test_judge_rates_from_verdict_counts():
    out = m.judge_rates({"judge/correct": 6, "judge/incorrect": 3, "judge/undecidable": 3})
    assert out == {"judge/pass_rate": 0.5, "judge/undecidable_share": 0.25}
    assert m.judge_rates({}) == {"judge/pass_rate": 0.0, "judge/undecidable_share": 0.0}


def test_judge_metrics_of_the_judge_module_are_all_registered():
    """core.judge.judge_metrics is written elsewhere: every key it emits must be exportable."""

    row = judge.judge_verdict_row(Sample("p", 0, "q", "The answer is 4."), "4", None)
    assert set(judge.judge_metrics([row])) - REGISTRY.keys() == set()


def test_format_line_is_sorted_and_handles_nan():
    line = m.format_line({"b/x": 2.0, "a/y": float("nan"), "a/x": 1234567.0})
    assert line == "a/x=1.235e+06 a/y=nan b/x=2"


# ----------------------------------------------------------------- the logger without Ray (fast)


def test_logger_writes_one_timestamped_jsonl_record_per_call(tmp_path, caplog):
    logger = MetricsLogger(tmp_path, run_id="run-1")
    with caplog.at_level(logging.INFO, logger="orca_ray.distributed.telemetry"):
        logger.log(m.stage_metrics("sampler", 8, 100, 2.0, 4), step=3)
        logger.log({"learner/train_loss": float("nan")}, step=4, label="kto")
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["run_id"] == "run-1" and first["step"] == 3 and first["source"] == "driver"
    assert first["sampler/tokens_per_s"] == 50.0
    assert first["ts"] <= second["ts"] and first["time"].endswith("+00:00")
    assert second["learner/train_loss"] is None and second["label"] == "kto"
    assert "[driver] step=3" in caplog.text and "sampler/tokens_per_s=50" in caplog.text


def test_logger_warns_once_about_unregistered_keys_but_still_logs_them(tmp_path, caplog):
    logger = MetricsLogger(tmp_path, run_id="r")
    with caplog.at_level(logging.WARNING, logger="orca_ray.distributed.telemetry"):
        logger.log({"sampler/typo_per_s": 1.0})
        logger.log({"sampler/typo_per_s": 2.0})
    assert caplog.text.count("sampler/typo_per_s") == 1
    assert [r["sampler/typo_per_s"] for r in read_metrics(tmp_path)] == [1.0, 2.0]


def test_each_source_has_its_own_file_and_read_metrics_merges_them_in_time_order(tmp_path):
    driver, actor = MetricsLogger(tmp_path, "r"), MetricsLogger(tmp_path, "r", source="sampler-0")
    driver.log({"loop/iteration": 1.0})
    actor.log({"sampler/rows": 2.0})
    driver.log({"loop/iteration": 2.0})
    assert actor.path == metrics_file(tmp_path, "sampler-0") == tmp_path / "metrics.sampler-0.jsonl"
    assert [r["source"] for r in read_metrics(tmp_path)] == ["driver", "sampler-0", "driver"]


def test_source_names_cannot_escape_the_run_dir(tmp_path):
    with pytest.raises(ValueError):
        MetricsLogger(tmp_path, "r", source="../x")


def test_logger_without_run_dir_only_logs(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="orca_ray.distributed.telemetry"):
        record = MetricsLogger(None, "r").log({"judge/pass_rate": 0.5})
    assert record["judge/pass_rate"] == 0.5 and "judge/pass_rate=0.5" in caplog.text
    assert list(tmp_path.iterdir()) == []


def test_non_finite_values_never_reach_the_json(tmp_path):
    MetricsLogger(tmp_path, "r").log({"learner/train_loss": math.inf})
    assert json.loads((tmp_path / "metrics.jsonl").read_text())["learner/train_loss"] is None


def test_readable_keeps_small_values_such_as_learning_rates_visible():
    assert m.readable(3.5e-05) == 3.5e-05 and m.readable(1.23456e-07) == 1.235e-07
    assert m.readable(0.463788) == 0.4638 and m.readable(10759.0) == 10759.0 and m.readable(0) == 0.0
    assert math.isnan(m.readable(float("nan")))


def test_spans_go_to_the_run_log_for_the_reports_timeline(tmp_path):
    import time

    started = time.time()
    logger = MetricsLogger(tmp_path, "r", source="judge-7")
    record = logger.span("judge", started, label="shard-00002", rows=8)
    (read,) = read_metrics(tmp_path)
    assert read == record and read["span"] == "judge" and read["label"] == "shard-00002" and read["rows"] == 8
    assert read["start"] == started <= read["end"] == read["ts"]
    assert MetricsLogger(None, "r").span("judge", started)["span"] == "judge"  # no run dir: nothing written


def test_the_wilson_interval_always_holds_its_proportion():
    # In floats the interval at 0 or n correct missed p by a few ulps (0 of 3: low 5.6e-17; 10 of 10: high
    # 0.9999999999999999), so the report's error bars went negative and matplotlib stopped the demo.
    for n in range(1, 400):
        for correct in range(n + 1):
            low, high = m.wilson_interval(correct, n)
            assert 0.0 <= low <= correct / n <= high <= 1.0, (correct, n, low, high)
    assert m.wilson_interval(0, 3)[0] == 0.0
    assert m.wilson_interval(10, 10)[1] == 1.0
