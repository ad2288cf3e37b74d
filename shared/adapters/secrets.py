"""Secrets from Secret Manager in the cloud, from environment variables locally."""

from __future__ import annotations

import os
import threading
from typing import Any

__all__ = ["LOCAL_DEFAULTS", "SECRET_IDS", "EnvSecrets", "SecretManagerSecrets"]

# Every secret the code may read (Terraform declares exactly these).
SECRET_IDS = (
    "whatsapp-app-secret",
    "whatsapp-verify-token",
    "whatsapp-access-token",
    "log-pseudonym-key",
    "mongodb-uri",
    "console-session-key",
    "google-chat-webhook-url",
)

# Only for the local stack and tests; the cloud never falls back to these.
LOCAL_DEFAULTS = {
    "whatsapp-app-secret": "dev-app-secret",
    "whatsapp-verify-token": "dev-verify-token",
    "whatsapp-access-token": "dev-access-token",
    "log-pseudonym-key": "dev-log-pseudonym-key",
    "console-session-key": "dev-console-session-key",
    # The WhatsApp simulator's stand-in of a Chat space (the local stack sets the real port).
    "google-chat-webhook-url": "http://127.0.0.1:8081/_chat/webhook",
}


def _env_name(secret_id: str) -> str:
    return secret_id.upper().replace("-", "_")


class EnvSecrets:
    """Reads `whatsapp-app-secret` from WHATSAPP_APP_SECRET, and so on."""

    def __init__(self, defaults: dict[str, str] | None = None) -> None:
        self._defaults = LOCAL_DEFAULTS if defaults is None else defaults

    def get(self, secret_id: str) -> str:
        """The secret's value, or its local default."""
        value = os.environ.get(_env_name(secret_id)) or self._defaults.get(secret_id)
        if value is None:
            raise KeyError(f"secret {secret_id} is not set (env {_env_name(secret_id)})")
        return value


class SecretManagerSecrets:
    """Reads the latest version of each secret once per instance."""

    def __init__(self, project: str, client: Any | None = None) -> None:
        self._project = project
        self._client = client
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, secret_id: str) -> str:
        """The secret's latest version, cached for the life of the instance."""
        with self._lock:
            if secret_id not in self._cache:
                if self._client is None:
                    from google.cloud import secretmanager

                    self._client = secretmanager.SecretManagerServiceClient()
                name = f"projects/{self._project}/secrets/{secret_id}/versions/latest"
                response = self._client.access_secret_version(request={"name": name})
                self._cache[secret_id] = response.payload.data.decode("utf-8")
            return self._cache[secret_id]
