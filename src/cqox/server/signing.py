"""The token signing key: configured, or generated once and kept in the data folder.

Without ``CQOX_SECRET_KEY`` the service generates a random key (384 bits) on its
first start and stores it in ``<data dir>/secret_key`` with mode 0600, so tokens
survive restarts and nobody else can mint them.  The file is created atomically
(written in full to a private temporary file, then hard-linked into place), so two
processes starting at once agree on one key.  A key that was ever published — the
old development default — is refused by :class:`~cqox.server.settings.Settings`
and never reaches this module.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from cqox.server.settings import MIN_SECRET_CHARS, PUBLISHED_DEFAULT_SECRET, Settings

log = logging.getLogger("cqox.server")

#: Name of the generated key's file in the data folder.
KEY_FILE = "secret_key"
#: Random bytes of a generated key (URL-safe base64: 64 characters).
KEY_BYTES = 48


class SecretKeyFileError(RuntimeError):
    """The stored key file is unusable (too short, or the published default)."""


def key_path(data_dir: Path) -> Path:
    """Where the generated key is kept."""
    return data_dir / KEY_FILE


def _read(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        # a key readable by others is as good as published: narrow it and say so
        os.chmod(path, 0o600)
        log.warning("%s was readable by other users (mode %o); set it to 0600", path, mode)
    key = path.read_text(encoding="ascii").strip()
    if len(key) < MIN_SECRET_CHARS or key == PUBLISHED_DEFAULT_SECRET:
        raise SecretKeyFileError(
            f"{path} does not hold a usable signing key (at least {MIN_SECRET_CHARS} "
            "random characters); delete it to have a new one generated, or set "
            "CQOX_SECRET_KEY"
        )
    return key


def load_or_create_key(data_dir: Path) -> str:
    """The key stored in ``data_dir``, generated (mode 0600) when there is none."""
    path = key_path(data_dir)
    if path.exists():
        return _read(path)
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(KEY_BYTES)
    tmp = data_dir / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(key + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # fails if another process got there first: use theirs
        except FileExistsError:
            return _read(path)
    finally:
        tmp.unlink(missing_ok=True)
    log.warning(
        "CQOX_SECRET_KEY is not set: generated a random token signing key and stored it "
        "in %s (mode 0600). Keep that file private; set CQOX_SECRET_KEY to use your own.",
        path.resolve(),
    )
    return key


def with_signing_key(settings: Settings) -> Settings:
    """``settings`` with ``secret_key`` filled in (from the data folder when unset)."""
    if settings.secret_key is not None:
        return settings
    key = load_or_create_key(settings.data_dir)
    log.info("token signing key: %s", key_path(settings.data_dir).resolve())
    return settings.model_copy(update={"secret_key": key})
