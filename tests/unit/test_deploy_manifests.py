"""deploy/: the docker-compose file and the KubeRay manifests parse, wire their services together, use
only environment names openasr reads, and hold secrets by reference. (No Docker or Kubernetes here: this
checks what can be checked without them.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from openasr.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
AWS = {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"}
SECRET = {
    "OPENASR_DATABASE_URL",
    "OPENASR_API_KEYS",
    "OPENASR_SIGNING_SECRET",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
}
ELSEWHERE = {"storage_url", "ray_address"}
"""Settings of the S3 storage layer and the Ray engine pool (their own branches of issue 16); once those
are merged every name here is a `Settings` field and this set can go."""


def _check_names(names: set[str]) -> None:
    for name in names:
        if name in AWS:
            continue
        assert name.startswith("OPENASR_"), name
        field = name.removeprefix("OPENASR_").lower()
        assert field in Settings.model_fields or field in ELSEWHERE, f"{name} is no openasr setting"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "docker-compose.yml").read_text()))


def test_compose_runs_the_migration_once_before_the_api_nodes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "minio", "ray-head", "migrate", "api"} <= set(services)
    assert services["migrate"]["command"] == ["openasr", "db", "upgrade"]
    api = services["api"]
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert api["deploy"]["replicas"] >= 2
    assert api["command"][:2] == ["openasr", "serve"]


def test_compose_nodes_share_one_database_store_and_ray_cluster(compose: dict[str, Any]) -> None:
    services = compose["services"]
    env = services["api"]["environment"]
    assert env == services["migrate"]["environment"]  # one environment, built once (a YAML anchor)
    _check_names(set(env))
    assert "OPENASR_SIGNING_SECRET" in env  # no shared data directory: the nodes share the secret
    assert "@postgres:5432/" in env["OPENASR_DATABASE_URL"]
    assert env["OPENASR_DATABASE_URL"].startswith("postgresql://")
    assert env["OPENASR_STORAGE_URL"].startswith("s3://")
    assert env["AWS_ENDPOINT_URL"] == "http://minio:9000"
    assert env["OPENASR_RAY_ADDRESS"].startswith("ray://ray-head:")
    head = " ".join(services["ray-head"]["command"])
    assert "--head" in head and env["OPENASR_RAY_ADDRESS"].rsplit(":", 1)[1] in head


def _manifests() -> list[dict[str, Any]]:
    docs = []
    for path in sorted((DEPLOY / "kuberay").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def test_kuberay_has_a_ray_cluster_and_the_api_as_its_own_deployment_and_service() -> None:
    docs = _manifests()
    by_kind = {d["kind"]: d for d in docs}
    assert {"RayCluster", "Deployment", "Service"} <= set(by_kind)
    ray = by_kind["RayCluster"]
    assert ray["apiVersion"] == "ray.io/v1"
    gpu_groups = [
        g
        for g in ray["spec"]["workerGroupSpecs"]
        if any("nvidia.com/gpu" in c["resources"]["limits"] for c in g["template"]["spec"]["containers"])
    ]
    assert gpu_groups, "the pool's workers own GPUs"
    deployment, service = by_kind["Deployment"], by_kind["Service"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == labels
    assert service["spec"]["selector"] == labels
    pod = deployment["spec"]["template"]["spec"]
    assert [c["command"] for c in pod["initContainers"]] == [["openasr", "db", "upgrade"]]
    api = pod["containers"][0]
    env = {e["name"]: e for e in api["env"]}
    _check_names(set(env))
    assert set(env) >= SECRET
    assert env["OPENASR_RAY_ADDRESS"]["value"] == f"ray://{ray['metadata']['name']}-head-svc:10001"


def test_kuberay_secrets_are_references_never_values() -> None:
    for doc in _manifests():
        assert doc["kind"] != "Secret", "secrets are created by the operator, not shipped"
        if doc["kind"] != "Deployment":
            continue
        for container in _containers(doc["spec"]["template"]["spec"]):
            for entry in container.get("env", []):
                if entry["name"] in SECRET:
                    assert "value" not in entry, entry
                    assert entry["valueFrom"]["secretKeyRef"]["name"], entry
