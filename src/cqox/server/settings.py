"""Service configuration: environment variables ``CQOX_*`` read by pydantic-settings.

The CLI (``cqox serve``, ``cqox users``) and the service read the same class, so one
environment configures both.  :func:`get_settings` is the dependency the routes use;
tests override it (``app.dependency_overrides[get_settings]``) or pass their own
:class:`Settings` to :func:`cqox.server.main.create_app`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fastapi import Request
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The secret used when none is configured; refused in production.
DEFAULT_SECRET_KEY = "cqox-development-secret-change-me"


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
    # uploads: the limits that keep an upload from exhausting the API process
    max_columns: int = Field(
        default=5_000, gt=0, description="widest table accepted (columns, read from the header)"
    )
    max_expanded_mb: float = Field(
        default=1024.0,
        gt=0,
        description="largest decompressed size of an upload (gzip, xlsx, Parquet) in MB",
    )
    max_expansion_ratio: float = Field(
        default=200.0,
        gt=1,
        description="largest decompressed / compressed size ratio of a gzip or xlsx upload",
    )
    parse_memory_mb: int = Field(
        default=4096, ge=512, description="address-space limit of an upload's parsing process (MB)"
    )
    parse_time_limit_s: float = Field(
        default=120.0, gt=0, description="wall-time limit of parsing one upload (s)"
    )
    parse_concurrency: int = Field(
        default=2, ge=1, le=64, description="uploads parsed at the same time (others wait)"
    )
    # end uploads
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
    def max_upload_bytes(self) -> int:
        """The upload limit in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_expanded_bytes(self) -> int:
        """The decompressed-size limit in bytes."""
        return int(self.max_expanded_mb * 1024 * 1024)

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
