"""One typed place for settings (``actors.infra.settings``): the environment, then ``.env``,
then a secrets directory; read by the CLI, the logging set-up, the API's tokens and the
deployment commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.infra.settings import SECRETS_DIR_ENV, current_settings, deployment_settings
from scripts.cli import build_parser, main
from serve_app.auth import TokenBook
from serve_app.backend import AppArgs
from serve_app.guards import FrontDoorArgs

NAMES = (
    "REDIS_URL",
    "FLASHSTOCK_REDIS_URL",
    "FLASHSTOCK_NAMESPACE",
    "FLASHSTOCK_SHARDS",
    "FLASHSTOCK_LOG_LEVEL",
    "FLASHSTOCK_LOG_FORMAT",
    "FLASHSTOCK_TOKENS",
    "FLASHSTOCK_TOKENS_FILE",
    "FLASHSTOCK_SECRETS_FILE",
    "FLASHSTOCK_RETENTION_SECONDS",
    "FLASHSTOCK_BUCKET_SECONDS",
    SECRETS_DIR_ENV,
)


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A working directory of its own (for ``.env``) and none of the settings set."""
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_defaults_without_any_source(clean: Path) -> None:
    settings = current_settings()
    assert (settings.redis_url, settings.namespace, settings.shards) == (None, "fs", 2)
    assert settings.log_level is None
    assert settings.tokens == ""


def test_the_environment_wins_over_dotenv_and_dotenv_over_the_secrets_directory(
    clean: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = clean / "secrets"
    secrets.mkdir()
    (secrets / "flashstock_namespace").write_text("from-secrets")
    (secrets / "flashstock_shards").write_text("7")
    (secrets / "redis_url").write_text("redis://secret-host:6379/0")
    (clean / ".env").write_text("FLASHSTOCK_NAMESPACE=from-dotenv\nFLASHSTOCK_LOG_LEVEL=debug\n")
    monkeypatch.setenv(SECRETS_DIR_ENV, str(secrets))
    monkeypatch.setenv("FLASHSTOCK_LOG_LEVEL", "error")

    settings = current_settings()

    assert settings.log_level == "error"  # environment over .env
    assert settings.namespace == "from-dotenv"  # .env over the secrets directory
    assert settings.shards == 7  # the secrets directory when nothing else says
    assert settings.redis_url == "redis://secret-host:6379/0"
    assert settings.store.redis_url == "redis://secret-host:6379/0"


def test_a_deployment_needs_a_redis_url_and_options_win(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="REDIS_URL"):
        deployment_settings()
    monkeypatch.setenv("FLASHSTOCK_SHARDS", "3")
    settings = deployment_settings(REDIS_URL="redis://given:6379", shards=5)
    assert (settings.redis_url, settings.shards) == ("redis://given:6379", 5)
    assert deployment_settings(REDIS_URL="redis://given:6379").shards == 3


def test_api_tokens_come_from_the_secrets_directory(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = clean / "secrets"
    secrets.mkdir()
    (secrets / "flashstock_tokens").write_text("admin:ops:s3cret-token")
    monkeypatch.setenv(SECRETS_DIR_ENV, str(secrets))

    book = TokenBook.from_env()

    principal = book.principal("s3cret-token")
    assert book.enabled
    assert principal is not None
    assert principal.role == "admin"
    assert book.principal("another") is None


def test_command_defaults_follow_the_settings(clean: Path) -> None:
    (clean / ".env").write_text("FLASHSTOCK_SHARDS=4\nFLASHSTOCK_NAMESPACE=show1\n")
    args = build_parser().parse_args(["serve"])
    assert (args.shards, args.namespace) == (4, "show1")
    assert build_parser().parse_args(["serve", "--shards", "1"]).shards == 1


def test_a_wrong_setting_stops_the_cli_naming_its_variable(
    clean: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLASHSTOCK_SHARDS", "many")
    assert main(["demo"]) == 2
    err = capsys.readouterr().err
    assert "FLASHSTOCK_SHARDS" in err
    assert "integer" in err
    assert len(err.strip().splitlines()) == 1


def test_the_log_level_from_dotenv_reaches_the_cli(
    clean: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (clean / ".env").write_text("FLASHSTOCK_LOG_LEVEL=verbose\n")
    assert main(["demo"]) == 2
    assert "FLASHSTOCK_LOG_LEVEL must be one of" in capsys.readouterr().err


def test_retention_defaults_to_seven_days_of_hourly_buckets(clean: Path) -> None:
    settings = current_settings()
    assert (settings.retention_seconds, settings.bucket_seconds) == (7 * 24 * 3600.0, 3600)
    build = build_parser().parse_args(["serve"])
    assert (build.retention_seconds, build.bucket_seconds) == (7 * 24 * 3600.0, 3600)


def test_retention_reaches_the_owners_store_from_environment_and_options(
    clean: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (clean / ".env").write_text("FLASHSTOCK_RETENTION_SECONDS=7200\nFLASHSTOCK_BUCKET_SECONDS=600\n")
    monkeypatch.setenv("FLASHSTOCK_RETENTION_SECONDS", "86400")  # the environment over .env

    store = deployment_settings(REDIS_URL="redis://given:6379").store
    assert (store.retention_seconds, store.bucket_seconds) == (86400.0, 600)
    given = deployment_settings(REDIS_URL="redis://given:6379", retention_seconds=3600).store
    assert (given.retention_seconds, given.bucket_seconds) == (3600.0, 600)  # an option wins

    for command in ("serve", "demo"):
        args = build_parser().parse_args([command, "--bucket-seconds", "60"])
        assert (args.retention_seconds, args.bucket_seconds) == (86400.0, 60)
    up = build_parser().parse_args(["up", "--retention-seconds", "1800"])
    assert (up.retention_seconds, up.bucket_seconds) == (1800.0, None)  # None: the settings decide


def test_the_serve_config_carries_retention_to_the_replicas_store(
    clean: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASHSTOCK_RETENTION_SECONDS", "172800")
    args = AppArgs(redis_url="redis://unused")
    assert (args.store.retention_seconds, args.store.bucket_seconds) == (172800.0, 3600)
    given = AppArgs(redis_url="redis://unused", retention_seconds=600, bucket_seconds=60).store
    assert (given.retention_seconds, given.bucket_seconds) == (600.0, 60)
    with pytest.raises(ValueError, match=r"bucket_seconds must be within 1\.\.retention_seconds"):
        AppArgs(redis_url="redis://unused", retention_seconds=600, bucket_seconds=3600)


@pytest.mark.parametrize(
    ("environment", "named", "problem"),
    [
        ({"FLASHSTOCK_RETENTION_SECONDS": "30"}, "FLASHSTOCK_RETENTION_SECONDS", "at least 60 seconds"),
        (
            {"FLASHSTOCK_RETENTION_SECONDS": "600", "FLASHSTOCK_BUCKET_SECONDS": "3600"},
            "FLASHSTOCK_BUCKET_SECONDS",
            "within 1..FLASHSTOCK_RETENTION_SECONDS (600)",
        ),
        ({"FLASHSTOCK_BUCKET_SECONDS": "hourly"}, "FLASHSTOCK_BUCKET_SECONDS", "integer"),
    ],
)
def test_an_unusable_retention_setting_stops_the_cli_naming_it(
    clean: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    environment: dict[str, str],
    named: str,
    problem: str,
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert main(["demo"]) == 2
    err = capsys.readouterr().err
    assert named in err
    assert problem in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_an_unusable_retention_option_is_refused_before_anything_starts(
    clean: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    assert main([command, "--retention-seconds", "3600", "--bucket-seconds", "7200"]) == 2
    err = capsys.readouterr().err
    assert "--bucket-seconds must be within 1..--retention-seconds (3600), got 7200" in err
    assert main([command, "--retention-seconds", "10"]) == 2
    assert "--retention-seconds must be at least 60 seconds, got 10" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_a_retention_that_is_not_a_finite_number_is_refused_naming_it(
    clean: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    assert main(["demo", "--retention-seconds", value]) == 2
    assert f"--retention-seconds must be a finite number of seconds, got {value}" in capsys.readouterr().err
    monkeypatch.setenv("FLASHSTOCK_RETENTION_SECONDS", value)
    assert main(["demo"]) == 2
    err = capsys.readouterr().err
    assert f"FLASHSTOCK_RETENTION_SECONDS must be a finite number of seconds, got {value}" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("budget", ["max_order_body_bytes_in_flight", "max_body_bytes_in_flight"])
def test_a_body_budget_below_the_largest_body_is_refused_naming_both(budget: str) -> None:
    with pytest.raises(ValueError, match=rf"front_door\.{budget} \(999\) is below max_body_bytes \(1000\)"):
        AppArgs(
            redis_url="redis://unused",
            max_body_bytes=1000,
            front_door=FrontDoorArgs.model_validate({budget: 999}),
        )
    assert AppArgs(
        redis_url="redis://unused", max_body_bytes=999, front_door=FrontDoorArgs.model_validate({budget: 999})
    )


@pytest.mark.parametrize(
    "field",
    ["max_orders_in_flight", "max_in_flight", "max_order_body_bytes_in_flight", "max_body_bytes_in_flight"],
)
def test_front_door_budgets_are_at_least_one(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        FrontDoorArgs.model_validate({field: 0})
