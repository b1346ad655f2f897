"""The shipped Serve config and the KubeRay RayService are what Ray's own schema accepts,
and they name builders and args this code base has; the deployment settings read the
environment and a ``.env`` file; ``flashstock up``/``down`` refuse what they cannot do
with one clear line."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from ray.serve import Application
from ray.serve._private.api import call_user_app_builder_with_args_if_necessary
from ray.serve.schema import ServeDeploySchema

from actors.infra.settings import DeploymentSettings
from scripts.cli import main
from serve_app.backend import AppArgs

ROOT = Path(__file__).resolve().parents[2]
SERVE_CONFIG = ROOT / "serve_app" / "serve.yaml"
RAY_SERVICE = ROOT / "docs" / "kuberay" / "rayservice.yaml"


def serve_configs() -> dict[str, dict[str, Any]]:
    service = yaml.safe_load(RAY_SERVICE.read_text())
    return {
        "serve.yaml": yaml.safe_load(SERVE_CONFIG.read_text()),
        "rayservice serveConfigV2": yaml.safe_load(service["spec"]["serveConfigV2"]),
    }


@pytest.mark.parametrize("name", sorted(serve_configs()))
def test_config_validates_against_rays_schema_and_names_our_builder(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://:from-the-secret@redis.example:6379/0")
    schema = ServeDeploySchema.model_validate(serve_configs()[name])
    (application,) = schema.applications
    module, _, attribute = application.import_path.partition(":")
    builder = getattr(importlib.import_module(module), attribute)
    # what Serve's controller does with the import path and the config's args
    built = call_user_app_builder_with_args_if_necessary(builder, application.args)
    assert isinstance(built, Application)
    (args,) = built._bound_deployment.init_args
    assert args == AppArgs.model_validate(application.args)
    assert "@" not in str(application.args.get("redis_url", "")), "no Redis password in a Serve config"
    assert args.bootstrap, "a Serve config must bring up the whole system"
    assert not args.allow_volatile_redis


def test_ray_service_matches_ray_version_and_keeps_secrets_out_of_runtime_env() -> None:
    service = yaml.safe_load(RAY_SERVICE.read_text())
    import ray

    assert service["spec"]["rayClusterConfig"]["rayVersion"] == ray.__version__
    config = yaml.safe_load(service["spec"]["serveConfigV2"])
    text = service["spec"]["serveConfigV2"]
    for secret_place in ("runtime_env", "SECRET", "TOKENS", "redis_url:"):
        assert secret_place not in text  # the Redis URL and its password come from the pods' env
    # the Serve proxy listens beyond loopback in a pod: the Host check must name the service
    assert config["http_options"]["host"] == "0.0.0.0"
    assert config["applications"][0]["args"]["front_door"]["allowed_hosts"]


def test_settings_read_environment_before_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("REDIS_URL=redis://from-dotenv:6379/0\nFLASHSTOCK_SHARDS=3\n")
    for name in ("REDIS_URL", "FLASHSTOCK_REDIS_URL", "FLASHSTOCK_SHARDS", "FLASHSTOCK_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    settings = DeploymentSettings()  # type: ignore[call-arg]  # filled from .env
    assert (settings.redis_url, settings.shards, settings.namespace) == (
        "redis://from-dotenv:6379/0",
        3,
        "fs",
    )
    monkeypatch.setenv("FLASHSTOCK_SHARDS", "4")
    monkeypatch.setenv("FLASHSTOCK_NAMESPACE", "show7")
    settings = DeploymentSettings()  # type: ignore[call-arg]
    assert (settings.shards, settings.store.namespace, settings.store.shard_count) == (4, "show7", 4)


def test_settings_refuse_what_a_deployment_cannot_run_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("FLASHSTOCK_REDIS_URL", raising=False)
    with pytest.raises(ValidationError, match="REDIS_URL"):
        DeploymentSettings()  # type: ignore[call-arg]
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("FLASHSTOCK_SHARDS", "0")
    with pytest.raises(ValidationError, match="shards"):
        DeploymentSettings()  # type: ignore[call-arg]


def test_module_level_application_is_built_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    sys.modules.pop("serve_app.application", None)
    module = importlib.import_module("serve_app.application")  # importing reads no environment
    monkeypatch.setenv("REDIS_URL", "redis://10.0.0.5:6379/0")
    monkeypatch.setenv("FLASHSTOCK_SHARDS", "3")
    try:
        assert isinstance(module.app, Application)
        (args,) = module.app._bound_deployment.init_args  # what each replica is built with
        assert (args.redis_url, args.shard_count, args.bootstrap) == ("redis://10.0.0.5:6379/0", 3, True)
    finally:
        sys.modules.pop("serve_app.application", None)


@pytest.mark.parametrize("command", ["up", "down"])
def test_up_and_down_need_a_cluster(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert main([command, "--redis-url", "redis://127.0.0.1:1/0"]) == 2
    error = capsys.readouterr().err
    assert "--address" in error
    assert "RAY_ADDRESS" in error
    assert len(error.strip().splitlines()) == 1


def test_up_names_the_missing_redis(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("FLASHSTOCK_REDIS_URL", raising=False)
    assert main(["up", "--address", "127.0.0.1:1"]) == 2
    assert "REDIS_URL" in capsys.readouterr().err
