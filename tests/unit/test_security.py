"""Security defaults: API keys live only in the environment (never in the config, a dump of it, or a log), the
local Ray dashboard binds to 127.0.0.1, `trust_remote_code` is off unless the config turns it on, and nothing in
orca_ray runs text as code or starts a shell."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from orca_ray.config import RunConfig, dump_config, load_config
from orca_ray.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
PRESETS = sorted((REPO / "jobs" / "configs").glob("*.yaml"))
SECRET = "sk-orca-ray-test-secret-0123456789"


def _teacher_config(tmp_path: Path, key_line: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(f"teacher:\n  backend: openai\n  base_url: http://127.0.0.1:9/v1\n  model: m\n  {key_line}\n")
    return path


def test_a_key_in_the_config_is_refused_and_only_its_variable_name_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_TEACHER_KEY", SECRET)
    with pytest.raises(ConfigError, match="api_key"):
        load_config(_teacher_config(tmp_path, f"api_key: {SECRET}"))
    dumped = dump_config(load_config(_teacher_config(tmp_path, "api_key_env: MY_TEACHER_KEY")))
    assert "MY_TEACHER_KEY" in dumped and SECRET not in dumped


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_presets_hold_no_secret_and_trust_no_remote_code(preset):
    text = preset.read_text()
    assert "sk-" not in text and "api_key:" not in text
    config = load_config(preset)
    assert not config.student.trust_remote_code and not config.teacher.trust_remote_code


def test_trust_remote_code_reaches_engines_and_learner_only_when_asked():
    from orca_ray.distributed.learner import learner_spec
    from orca_ray.distributed.resources import student_engine_spec, teacher_engine_spec

    for trust in (False, True):
        config = RunConfig.model_validate(
            {
                "student": {"trust_remote_code": trust},
                "teacher": {"backend": "vllm", "model": "m", "trust_remote_code": trust},
            }  # fmt: skip
        )
        assert student_engine_spec(config, "/m").trust_remote_code is trust
        assert teacher_engine_spec(config, "/m").trust_remote_code is trust
        assert (
            learner_spec(
                config, "sft", base_model_dir="/m", init_adapter=None, streaming=False, rows=8
            ).trust_remote_code
            is trust
        )


def test_the_local_dashboard_binds_to_localhost(monkeypatch):
    import ray

    from orca_ray.distributed import cluster

    calls = []
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 8.0})
    cluster.init_ray(RunConfig().resources)
    assert calls[0]["dashboard_host"] == "127.0.0.1"


def test_worker_env_passes_no_secrets(monkeypatch):
    from orca_ray.distributed.cluster import worker_env

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("RAY_AUTH_TOKEN", SECRET)
    assert SECRET not in repr(worker_env())


def _calls_that_run_code(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in {"exec", "eval", "compile", "__import__"}:
                found.append(f"{path.name}:{node.lineno} {func.id}()")
            if isinstance(func, ast.Attribute) and func.attr in {"system", "popen", "spawnl", "execv", "execvp"}:
                found.append(f"{path.name}:{node.lineno} .{func.attr}()")
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
            if any(n and n.split(".")[0] in {"subprocess", "pty", "code", "runpy"} for n in names):
                found.append(f"{path.name}:{node.lineno} import {', '.join(n for n in names if n)}")
    return found


def test_no_module_runs_text_as_code_or_starts_a_shell():
    offenders = [hit for path in sorted((REPO / "orca_ray").rglob("*.py")) for hit in _calls_that_run_code(path)]
    assert offenders == []
