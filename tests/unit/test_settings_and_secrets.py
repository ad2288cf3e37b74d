"""Settings from the environment, and the two secret sources."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from shared.adapters.secrets import LOCAL_DEFAULTS, EnvSecrets, SecretManagerSecrets
from shared.settings import Settings


def test_assistants_by_phone_number_id_from_json_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANTS_BY_PHONE_NUMBER_ID", '{"111": "vendas", "222": "sac2"}')
    monkeypatch.setenv("DEFAULT_ASSISTANT", "geral")
    settings = Settings()
    assert settings.assistant_for("111") == "vendas"
    assert settings.assistant_for("222") == "sac2"
    assert settings.assistant_for("333") == "geral"


def test_assistant_default_without_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSISTANTS_BY_PHONE_NUMBER_ID", raising=False)
    monkeypatch.delenv("DEFAULT_ASSISTANT", raising=False)
    assert Settings().assistant_for("111") == "sac"


def test_mapping_given_as_a_json_string_argument() -> None:
    settings = Settings(assistants_by_phone_number_id='{"9": "x"}')  # type: ignore[arg-type]
    assert settings.assistant_for("9") == "x"
    blank = Settings(assistants_by_phone_number_id="  ")  # type: ignore[arg-type]
    assert blank.assistants_by_phone_number_id == {}


def test_numbers_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_MAX_BODY_BYTES", "1234")
    monkeypatch.setenv("KB_MIN_SCORE", "0.5")
    monkeypatch.setenv("TOPIC_INBOUND", "inbound-x")
    settings = Settings()
    assert settings.webhook_max_body_bytes == 1234
    assert settings.kb_min_score == 0.5
    assert settings.topic_inbound == "inbound-x"


def test_unknown_environment_name_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATENDE_ENV", "prdo")
    with pytest.raises(ValueError):
        Settings()


def test_blank_assistants_env_means_no_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANTS_BY_PHONE_NUMBER_ID", "")
    assert Settings().assistants_by_phone_number_id == {}


# EnvSecrets


def test_env_secret_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHATSAPP_APP_SECRET", "from-env")
    assert EnvSecrets().get("whatsapp-app-secret") == "from-env"


def test_env_secret_falls_back_to_local_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WHATSAPP_APP_SECRET", raising=False)
    assert EnvSecrets().get("whatsapp-app-secret") == LOCAL_DEFAULTS["whatsapp-app-secret"]
    assert LOCAL_DEFAULTS["whatsapp-app-secret"] == "dev-app-secret"


def test_empty_env_value_falls_back_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHATSAPP_VERIFY_TOKEN", "")
    assert EnvSecrets().get("whatsapp-verify-token") == "dev-verify-token"


def test_env_secret_with_empty_defaults_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WHATSAPP_APP_SECRET", raising=False)
    with pytest.raises(KeyError, match="WHATSAPP_APP_SECRET"):
        EnvSecrets(defaults={}).get("whatsapp-app-secret")


def test_unknown_secret_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_SECRET", raising=False)
    with pytest.raises(KeyError):
        EnvSecrets().get("no-such-secret")
    monkeypatch.setenv("NO_SUCH_SECRET", "now-set")
    assert EnvSecrets(defaults={}).get("no-such-secret") == "now-set"


# SecretManagerSecrets


@dataclass
class _Payload:
    data: bytes


@dataclass
class _Response:
    payload: _Payload


@dataclass
class FakeSecretManager:
    values: dict[str, str]
    requests: list[dict[str, Any]] = field(default_factory=list)

    def access_secret_version(self, *, request: dict[str, Any]) -> _Response:
        self.requests.append(request)
        return _Response(_Payload(self.values[request["name"]].encode("utf-8")))


def test_secret_manager_reads_latest_once_and_caches() -> None:
    client = FakeSecretManager(
        {
            "projects/P/secrets/whatsapp-app-secret/versions/latest": "s3crét",
            "projects/P/secrets/whatsapp-verify-token/versions/latest": "tok",
        }
    )
    secrets = SecretManagerSecrets("P", client=client)
    assert secrets.get("whatsapp-app-secret") == "s3crét"
    assert secrets.get("whatsapp-app-secret") == "s3crét"
    assert client.requests == [{"name": "projects/P/secrets/whatsapp-app-secret/versions/latest"}]
    assert secrets.get("whatsapp-verify-token") == "tok"
    assert len(client.requests) == 2


def test_secret_manager_errors_are_not_cached() -> None:
    client = FakeSecretManager({})
    secrets = SecretManagerSecrets("P", client=client)
    with pytest.raises(KeyError):
        secrets.get("missing")
    client.values["projects/P/secrets/missing/versions/latest"] = "later"
    assert secrets.get("missing") == "later"


def test_vertex_project_defaults_to_the_cloud_project_and_can_differ() -> None:
    assert Settings(google_cloud_project="p1").vertex_project_id == "p1"
    assert Settings(google_cloud_project="p1", vertex_project="p2").vertex_project_id == "p2"
    assert Settings(google_cloud_project="p1", vertex_project=" ").vertex_project_id == "p1"


def test_fallback_models_are_a_comma_separated_list() -> None:
    settings = Settings(vertex_fallback_models="gemini-2.5-flash-lite, gemini-2.0-flash")  # type: ignore[arg-type]
    assert settings.vertex_fallback_models == ["gemini-2.5-flash-lite", "gemini-2.0-flash"]


def test_the_manual_clock_moves_only_forward_and_only_when_told() -> None:
    from datetime import UTC, datetime, timedelta

    from shared.clock import ManualClock

    start = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    clock = ManualClock(start)
    clock.sleep(90)
    assert clock.now() == start + timedelta(seconds=90)
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        ManualClock(datetime(2026, 11, 25, 12, 0))
