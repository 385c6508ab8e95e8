"""Service configuration: environment variables ``CQOX_*`` read by pydantic-settings.

The CLI (``cqox serve``, ``cqox users``) and the service read the same class, so one
environment configures both.  :func:`get_settings` is the dependency the routes use;
tests override it (``app.dependency_overrides[get_settings]``) or pass their own
:class:`Settings` to :func:`cqox.server.main.create_app`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from fastapi import Request
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The secret used when none is configured; refused in production.
DEFAULT_SECRET_KEY = "cqox-development-secret-change-me"
#: Smallest default address-space limit of a worker: NumPy, SciPy, scikit-learn, LightGBM
#: and Numba map ~2 GB of virtual memory at import although they use ~0.4 GB of RAM.
MIN_WORKER_MEMORY_MB = 3072


class Settings(BaseSettings):
    """Every setting of the service (environment variable = ``CQOX_`` + upper-case name)."""

    model_config = SettingsConfigDict(env_prefix="CQOX_", extra="ignore")

    data_dir: Path = Field(
        default=Path("cqox-data"), description="datasets, the SQLite file, figures"
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL (e.g. postgresql://user:pw@host/db); unset: SQLite in "
        "the data folder",
    )
    secret_key: str = Field(default=DEFAULT_SECRET_KEY, description="JWT signing secret")
    env: Literal["development", "test", "production"] = Field(
        default="development", description="production refuses the default secret"
    )
    max_upload_mb: float = Field(default=100.0, gt=0, description="upload size limit (MB)")
    max_cells: int = Field(
        default=50_000_000, gt=0, description="largest table accepted (rows × columns)"
    )
    workers: int = Field(default=2, ge=1, le=64, description="analysis worker processes")
    worker_warm_up: bool = Field(
        default=True, description="run a small analysis in each new worker before jobs"
    )
    job_time_limit_s: float = Field(default=600.0, gt=0, description="time limit of one job")
    inline_wait_s: float = Field(
        default=5.0, ge=0, description="how long an analyze request waits before answering 202"
    )
    access_token_minutes: int = Field(default=60, gt=0, description="access token lifetime")
    refresh_token_days: int = Field(default=7, gt=0, description="refresh token lifetime")
    rate_limit_per_minute: int = Field(
        default=100, ge=0, description="requests per minute per user (0: no limit)"
    )
    rate_limit_ip_per_minute: int = Field(
        default=100, ge=0, description="requests per minute per client IP (0: no limit)"
    )
    cors_origins: list[str] = Field(default_factory=list, description="allowed CORS origins")
    # workers, parameters and budgets
    worker_memory_mb: int | None = Field(
        default=None,
        ge=1024,
        description="address-space limit of each worker process and its children (MB; "
        "unset: half the RAM shared by the workers, at least 3072)",
    )
    worker_user: str = Field(
        default="nobody",
        max_length=64,
        description="unprivileged user the workers run as when the service runs as root "
        "(empty: keep root, not recommended)",
    )
    max_work: float = Field(
        default=5e11,
        gt=0,
        description="largest estimated work of one request (rows × columns × replicates, "
        "summed over its estimators); larger requests are answered 422",
    )
    max_jobs_per_user: int = Field(
        default=4, ge=1, le=10_000, description="queued + running jobs of one user (429 above)"
    )

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.env == "production" and (
            self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < 32
        ):
            raise ValueError(
                "CQOX_SECRET_KEY must be set to a secret of at least 32 characters when "
                "CQOX_ENV=production (the default development secret is refused)"
            )
        return self

    @property
    def worker_memory_bytes(self) -> int:
        """The address-space limit of a worker process in bytes."""
        if self.worker_memory_mb is not None:
            return self.worker_memory_mb * 1024 * 1024
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        # the engine's libraries reserve ~2 GB of address space at import (RSS ~0.4 GB)
        return max(MIN_WORKER_MEMORY_MB * 1024 * 1024, ram // 2 // self.workers)

    @property
    def max_upload_bytes(self) -> int:
        """The upload limit in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL, SQLite in the data folder when none is configured."""
        url = self.database_url
        if not url:
            return f"sqlite:///{(self.data_dir / 'cqox.sqlite3').resolve()}"
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url


def settings_help() -> str:
    """One line per setting: environment variable, default and description (for --help)."""
    lines = []
    for name, info in Settings.model_fields.items():
        default = info.default_factory() if info.default_factory else info.default  # type: ignore[call-arg]
        if name == "secret_key":
            default = "(development secret)"
        lines.append(f"  CQOX_{name.upper():<26} {info.description} (default: {default})")
    return "\n".join(lines)


def get_settings(request: Request) -> Settings:
    """The settings of the running app (a dependency tests can override)."""
    settings: Settings = request.app.state.settings
    return settings
