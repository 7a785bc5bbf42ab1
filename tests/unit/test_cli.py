"""The CLI's contract for config errors: non-zero exit, the key and the file named, no traceback."""

import subprocess
import sys


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
