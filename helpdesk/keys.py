"""Secrets the desk keeps for itself on a one-machine install, and the API keys it reads."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from handlers.api_keys import (
    ALL_SCOPES,
    FORMAT_HINT,
    ApiKey,
    ApiKeyError,
    is_unnamed_form,
    parse_api_keys,
)
from helpdesk.settings import Settings, StartupError

log = logging.getLogger("helpdesk")


def kept_secret(path: Path) -> str:
    """A random secret made once and kept in a file only this user can read."""
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        # Created 0600 in one call: the secret is never in a file anyone else could open.
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(32) + "\n")
        try:
            os.link(tmp, path)  # the first process to get here wins; the others read it
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    if path.stat().st_mode & 0o077:
        raise StartupError(
            f"{path} holds a secret but other users may read it; run: chmod 600 {path}"
        )
    return path.read_text().strip()


def local_api_keys(settings: Settings, data_dir: Path, embedded: bool) -> list[ApiKey]:
    """API_KEYS, or on a one-machine install a key kept in DATA_DIR so the API just works."""
    try:
        keys = parse_api_keys(settings.api_keys or "")
    except ApiKeyError as exc:
        raise StartupError(f"API_KEYS: {exc}") from exc
    if keys and is_unnamed_form(settings.api_keys or ""):
        log.warning("API_KEYS: keys without names have every scope; %s", FORMAT_HINT)
    if keys:
        return keys
    if not embedded:
        log.warning("API_KEYS is not set: the /api/v1 intake API refuses every request")
        return []
    path = data_dir / "api-key"
    log.info("API_KEYS is not set: using the local key in %s, with every scope", path)
    return [ApiKey("local", ALL_SCOPES, kept_secret(path))]


def secret_key(settings: Settings, data_dir: Path, embedded: bool) -> str:
    """SECRET_KEY, or one kept in DATA_DIR (fine while every process shares DATA_DIR)."""
    if settings.secret_key:
        return settings.secret_key
    if not embedded:
        log.warning(
            "SECRET_KEY is not set: using one kept in DATA_DIR; set it when web "
            "and workers run on different machines"
        )
    return kept_secret(data_dir / "secret-key")
