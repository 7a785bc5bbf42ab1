"""Every file in cluster/ parses and carries what Ray or KubeRay needs, checked with their own validators where they
ship one: the launcher configs against Ray's ray-schema.json and `prepare_config`/`validate_config` (what `ray up`
runs before it touches a cloud), the KubeRay manifests through the Ray autoscaler's own reading of a RayCluster
(no KubeRay CRD schema or validator is published on PyPI, so apiVersion, kind and the CRD's required fields are also
checked by hand), the runtime env with Ray's RuntimeEnv, and the Grafana dashboard against the metric registry."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml

from orca_ray.config import load_config
from orca_ray.core.metrics import COUNTER, HISTOGRAM, REGISTRY, MetricNames

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "cluster"
PRESET = REPO / "jobs" / "configs" / "orca-math-7b.yaml"
LAUNCHER_FILES = {"aws": CLUSTER / "aws.yaml", "gcp": CLUSTER / "gcp.yaml"}
KUBERAY = CLUSTER / "kuberay"
DASHBOARD = CLUSTER / "grafana" / "orca-ray-dashboard.json"
SHARED_MOUNT = "/mnt/shared"
KNOWN_FILES = {
    "README.md", "aws.yaml", "gcp.yaml", "runtime_env.yaml", "Dockerfile", "grafana/orca-ray-dashboard.json",
    "kuberay/raycluster.yaml", "kuberay/rayjob.yaml", "kuberay/shared-storage.yaml",
}  # fmt: skip


def _yaml(path: Path):
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def preset():
    return load_config(PRESET)


def _gpu_demand(config) -> float:
    res = config.resources
    return (
        res.sampler.actors * res.sampler.gpus_per_actor
        + res.teacher.actors * res.teacher.gpus_per_actor
        + res.trainer.workers * res.trainer.gpus_per_worker
    )


def _cpu_demand(config) -> float:
    res = config.resources
    return (
        res.sampler.actors * res.sampler.cpus_per_actor
        + res.teacher.actors * res.teacher.cpus_per_actor
        + res.trainer.workers * res.trainer.cpus_per_worker
    )


# ------------------------------------------------------------------------------------------- every file


def test_cluster_holds_only_files_these_tests_know():
    found = {str(p.relative_to(CLUSTER)) for p in CLUSTER.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert found == KNOWN_FILES


@pytest.mark.parametrize("name", sorted(n for n in KNOWN_FILES if n.endswith((".yaml", ".json"))))
def test_every_yaml_and_json_file_parses(name):
    path = CLUSTER / name
    docs = [json.loads(path.read_text())] if name.endswith(".json") else list(yaml.safe_load_all(path.read_text()))
    assert docs and all(isinstance(d, dict) and d for d in docs)


def test_every_placeholder_is_explained_in_the_cluster_readme():
    readme = (CLUSTER / "README.md").read_text()
    placeholders = set()
    for path in CLUSTER.rglob("*"):
        if path.is_file():
            placeholders |= set(re.findall(r"REPLACE_ME_[A-Z_]+", path.read_text()))
    placeholders.discard("REPLACE_ME_")
    assert placeholders, "the cloud-specific ids are expected to be marked REPLACE_ME_..."
    assert {p for p in placeholders if p not in readme} == set()


def test_the_cluster_readme_names_every_file():
    readme = (CLUSTER / "README.md").read_text()
    assert [n for n in KNOWN_FILES - {"README.md"} if Path(n).name not in readme] == []


# ------------------------------------------------------------------------------------------- launcher configs


@pytest.fixture(scope="module")
def ray_schema():
    import ray.autoscaler

    return json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())


@pytest.mark.parametrize("provider", sorted(LAUNCHER_FILES))
def test_launcher_config_is_valid_for_ray_s_schema_as_written_and_as_ray_up_fills_it(provider, ray_schema):
    import jsonschema
    from ray.autoscaler._private.util import prepare_config, validate_config

    raw = _yaml(LAUNCHER_FILES[provider])
    jsonschema.validate(raw, ray_schema)  # the file itself
    filled = prepare_config(copy.deepcopy(raw))  # merged with Ray's <provider>/defaults.yaml, as `ray up` does
    validate_config(filled)
    assert raw["provider"]["type"] == provider
    assert set(ray_schema["required"]) <= raw.keys()


@pytest.mark.parametrize("provider", sorted(LAUNCHER_FILES))
def test_launcher_config_fits_the_7b_preset(provider, preset):
    config = _yaml(LAUNCHER_FILES[provider])
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"].get("CPU") == 0 and head["resources"].get("GPU", 0) == 0, "the head runs no stage"
    gpu_types = {name: t for name, t in types.items() if t["resources"].get("GPU", 0) > 0}
    assert gpu_types, "no GPU worker group"
    for name, node in gpu_types.items():
        res = node["resources"]
        # The preset is one node's worth: samplers + teacher (tensor parallel must not span nodes) + learner.
        assert res["GPU"] >= _gpu_demand(preset), name
        assert res["GPU"] >= preset.resources.teacher.tensor_parallel_size, name
        assert res["CPU"] >= _cpu_demand(preset), name
        assert node["min_workers"] == 0 and node["max_workers"] >= 1, name
    assert (
        sum(t.get("max_workers", 0) for n, t in types.items() if n != config["head_node_type"]) <= config["max_workers"]
    )


@pytest.mark.parametrize("provider", sorted(LAUNCHER_FILES))
def test_launcher_config_installs_the_project_with_the_gpu_extra_on_ray_2_60(provider):
    import ray

    config = _yaml(LAUNCHER_FILES[provider])
    assert any("pip install" in c and '-e ".[gpu]"' in c for c in config["setup_commands"])
    assert config["file_mounts"]["~/orca-ray"] == "."
    image = config["docker"]["image"]
    assert image.startswith(f"rayproject/ray:{ray.__version__}-py311"), image
    assert ".gitignore" in config["rsync_filter"] and "**/.venv" in config["rsync_exclude"]


@pytest.mark.parametrize("provider", sorted(LAUNCHER_FILES))
def test_launcher_config_mounts_the_shared_filesystem_that_output_dir_needs(provider, preset):
    config = _yaml(LAUNCHER_FILES[provider])
    assert preset.output_dir.startswith(SHARED_MOUNT + "/")
    init = " ".join(config["initialization_commands"])
    assert re.search(rf"mount -t nfs4? .* {SHARED_MOUNT}\b", init), "the network filesystem is not mounted"
    assert f"-v {SHARED_MOUNT}:{SHARED_MOUNT}" in config["docker"]["run_options"], "the container does not see it"


@pytest.mark.parametrize("provider", sorted(LAUNCHER_FILES))
def test_launcher_config_turns_token_auth_on_everywhere_with_one_token(provider):
    config = _yaml(LAUNCHER_FILES[provider])
    assert "-e RAY_AUTH_MODE=token" in config["docker"]["run_options"]
    assert config["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"
    assert any("--metrics-export-port=8080" in c for c in config["head_start_ray_commands"])
    assert any("--metrics-export-port=8080" in c for c in config["worker_start_ray_commands"])


# ------------------------------------------------------------------------------------------- runtime env


def test_runtime_env_is_valid_for_ray_and_leaves_the_venv_behind():
    from ray.runtime_env import RuntimeEnv

    env = _yaml(CLUSTER / "runtime_env.yaml")
    RuntimeEnv(**env)  # Ray's own validation of field names and types
    assert "working_dir" not in env, "the code comes from `ray job submit --working-dir .`"
    assert ".venv/" in env["excludes"] and "runs/" in env["excludes"]
    assert "pip" not in env and "uv" not in env, "nodes are pre-installed; a per-job install is several GB"


def test_runtime_env_does_not_collide_with_the_driver_s_ray_init(monkeypatch):
    """Ray refuses to start a job whose ray.init runtime_env sets an env var the submitted one also sets."""
    from ray.runtime_env.runtime_env import _merge_runtime_env

    from orca_ray.distributed.cluster import worker_env

    job_env = _yaml(CLUSTER / "runtime_env.yaml")
    # Inside the job the submitted env vars are in the driver's environment, next to the node's (HF_HOME).
    for key, value in {**job_env.get("env_vars", {}), "HF_HOME": "/mnt/shared/hf-cache"}.items():
        monkeypatch.setenv(key, value)
    assert _merge_runtime_env(job_env, {"env_vars": worker_env()}) is not None


# ------------------------------------------------------------------------------------------- KubeRay


def _kuberay(name: str) -> dict:
    return _yaml(KUBERAY / name)


def _check_cluster_spec(spec: dict) -> None:
    """The fields KubeRay's CRD requires (ray-operator/apis/ray/v1/raycluster_types.go), by hand."""
    head = spec["headGroupSpec"]
    groups = spec["workerGroupSpecs"]
    pods = [head["template"]["spec"]] + [g["template"]["spec"] for g in groups]
    for pod in pods:
        container = pod["containers"][0]
        assert container["name"] and container["image"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes[mounts[SHARED_MOUNT]]["persistentVolumeClaim"]["claimName"] == "orca-ray-shared"
        assert volumes[mounts["/dev/shm"]]["emptyDir"]["medium"] == "Memory"
        assert {"name": "HF_HOME", "value": f"{SHARED_MOUNT}/hf-cache"} in container["env"]
    for group in groups:
        assert re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", group["groupName"])
        assert 0 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    assert re.match(r"^\d+\.\d+\.\d+$", spec["rayVersion"])
    assert spec["authOptions"] == {"mode": "token"}


def _derived_autoscaling_config(spec: dict, name: str) -> dict:
    """Ray's own reading of a RayCluster: the autoscaler sidecar derives its config from the CR this way, and
    validates the result against ray-schema.json."""
    from ray.autoscaler._private.kuberay.autoscaling_config import _derive_autoscaling_config_from_ray_cr

    return _derive_autoscaling_config_from_ray_cr({"metadata": {"name": name, "namespace": "default"}, "spec": spec})


def test_raycluster_manifest(preset):
    import ray

    doc = _kuberay("raycluster.yaml")
    assert (doc["apiVersion"], doc["kind"]) == ("ray.io/v1", "RayCluster")
    assert re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", doc["metadata"]["name"])
    _check_cluster_spec(doc["spec"])
    assert doc["spec"]["rayVersion"] == ray.__version__
    derived = _derived_autoscaling_config(doc["spec"], doc["metadata"]["name"])
    types = derived["available_node_types"]
    assert types["headgroup"]["resources"]["CPU"] == 0
    gpu = [t["resources"] for t in types.values() if t["resources"].get("GPU", 0) > 0]
    assert gpu and all(r["GPU"] >= _gpu_demand(preset) and r["CPU"] >= _cpu_demand(preset) for r in gpu)


def test_rayjob_manifest_runs_the_pipeline_on_the_same_cluster_spec():
    job, cluster = _kuberay("rayjob.yaml"), _kuberay("raycluster.yaml")
    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayJob")
    spec = job["spec"]
    assert spec["rayClusterSpec"] == cluster["spec"], "rayjob.yaml and raycluster.yaml drifted apart"
    assert spec["entrypoint"].startswith("python jobs/pipeline.py --config jobs/configs/")
    assert (REPO / spec["entrypoint"].split()[1]).is_file()
    assert (REPO / spec["entrypoint"].split("--config ")[1].split()[0]).is_file()
    assert spec["submissionMode"] in ("K8sJobMode", "HTTPMode", "SidecarMode", "InteractiveMode")
    assert spec["shutdownAfterJobFinishes"] is True and spec["ttlSecondsAfterFinished"] > 0

    from ray.runtime_env import RuntimeEnv

    runtime_env = yaml.safe_load(spec["runtimeEnvYAML"])
    # working_dir is a path inside the image (checked below against cluster/Dockerfile); Ray's validator would
    # look for it on this machine.
    RuntimeEnv(**{k: v for k, v in runtime_env.items() if k != "working_dir"})
    submitted = _yaml(CLUSTER / "runtime_env.yaml")
    assert runtime_env["env_vars"] == submitted["env_vars"] and runtime_env["config"] == submitted["config"]
    _derived_autoscaling_config(spec["rayClusterSpec"], job["metadata"]["name"])


def test_the_image_the_manifests_use_is_built_from_ray_s_image_of_the_installed_version():
    import ray

    dockerfile = (CLUSTER / "Dockerfile").read_text()
    assert f"FROM rayproject/ray:{ray.__version__}-py311-gpu" in dockerfile
    assert 'pip install --no-cache-dir -e ".[gpu]"' in dockerfile
    copied = re.findall(r"^COPY --chown=\S+ (.+) \S+$", dockerfile, re.M)
    for sources in copied:
        assert all((REPO / s).exists() for s in sources.split()), sources
    # The RayJob's working_dir is where the image keeps the project.
    job = _kuberay("rayjob.yaml")
    assert yaml.safe_load(job["spec"]["runtimeEnvYAML"])["working_dir"] == "/home/ray/orca-ray"
    assert "WORKDIR /home/ray/orca-ray" in dockerfile


def test_shared_storage_claim_is_read_write_many():
    claim = _kuberay("shared-storage.yaml")
    assert (claim["apiVersion"], claim["kind"]) == ("v1", "PersistentVolumeClaim")
    assert claim["metadata"]["name"] == "orca-ray-shared"
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


# ------------------------------------------------------------------------------------------- Grafana


def _dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def _allowed_series() -> dict[str, str]:
    """{series Prometheus scrapes from Ray: metric key}, from the registry telemetry.py exports."""
    from orca_ray.distributed.telemetry import exported_series

    allowed = {}
    for key, name in exported_series().items():
        if REGISTRY[key].kind == HISTOGRAM:
            allowed.update({name + suffix: key for suffix in ("_bucket", "_sum", "_count")})
        else:
            allowed[name] = key
    return allowed


def _queried_series() -> list[str]:
    exprs = [t["expr"] for p in _dashboard()["panels"] for t in p.get("targets", [])]
    return [name for expr in exprs for name in re.findall(r"\bray_orca_ray_[a-z0-9_]+", expr)]


def test_dashboard_queries_only_metrics_that_telemetry_exports():
    queried = _queried_series()
    assert queried
    assert sorted(set(queried) - _allowed_series().keys()) == []


def test_dashboard_rate_and_increase_only_on_counters_and_histogram_buckets():
    allowed = _allowed_series()
    exprs = [t["expr"] for p in _dashboard()["panels"] for t in p.get("targets", [])]
    for expr in exprs:
        for name in re.findall(r"(?:rate|increase)\((ray_orca_ray_[a-z0-9_]+)", expr):
            assert REGISTRY[allowed[name]].kind in (COUNTER, HISTOGRAM), expr


def test_dashboard_shows_the_issue_s_headline_metrics():
    shown = {_allowed_series()[name] for name in _queried_series()}
    headline = {
        MetricNames.SAMPLER_SAMPLES_PER_S,
        MetricNames.SAMPLER_TOKENS_PER_S,
        MetricNames.SAMPLER_IN_FLIGHT,
        MetricNames.JUDGE_PASS_RATE,
        MetricNames.PAIRS_BUILT,
        MetricNames.TRAIN_LOSS,
        MetricNames.POLICY_VERSION,
        MetricNames.STALENESS,
        MetricNames.DISCARDED_STALE,
    }
    assert headline - shown == set()


def test_dashboard_is_a_well_formed_grafana_dashboard():
    dash = _dashboard()
    assert dash["title"] and dash["uid"] and isinstance(dash["schemaVersion"], int)
    panels = dash["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for panel in panels:
        assert {"h", "w", "x", "y"} <= panel["gridPos"].keys() and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        if panel["type"] == "row":
            continue
        assert panel["title"] and panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}"
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]
            assert 'run_id=~"$run_id"' in target["expr"], target["expr"]


def test_metrics_export_port_matches_what_kuberay_scrapes():
    """Prometheus scrapes port 8080 on every Ray pod (KubeRay's default) and node (our launcher start commands)."""
    doc = _kuberay("raycluster.yaml")
    pods = [doc["spec"]["headGroupSpec"]] + doc["spec"]["workerGroupSpecs"]
    for pod in pods:
        ports = {p["name"]: p["containerPort"] for p in pod["template"]["spec"]["containers"][0]["ports"]}
        assert ports.get("metrics") == 8080
