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

#: The development secret that earlier versions used when none was configured.  It is
#: public (it was in the source), so it is refused as a signing or verifying key
#: everywhere; without ``CQOX_SECRET_KEY`` a random key is generated instead
#: (:mod:`cqox.server.signing`).
PUBLISHED_DEFAULT_SECRET = "cqox-development-secret-change-me"
#: Shortest signing secret accepted: an HMAC key much shorter than the hash can be found
#: offline from any one token, and then every account can be forged.
MIN_SECRET_CHARS = 32
#: Shortest metrics token accepted (it is compared, never rate-limited).
MIN_METRICS_TOKEN_CHARS = 16
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
    env: Literal["development", "test", "production"] = Field(
        default="development", description="development, test or production"
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
    kernel_cache_dir: str | None = Field(
        default=None,
        description="pre-compiled kernels (a Numba cache built by `cqox warm-up`) copied "
        "into each worker's private cache; when set, built at start if missing or out of "
        "date (unset: the `kernels` folder of CQOX_CACHE_DIR, else ~/.cache/cqox, used "
        "when `cqox warm-up` made it current; empty: none, the kernels compile on first "
        "use in each worker)",
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
    max_edges: int = Field(
        default=2_000_000,
        gt=0,
        description="most edges of a network (the rows of the edge dataset an analysis names)",
    )
    max_network_pairs: int = Field(
        default=50_000_000,
        gt=0,
        description="most unit pairs whose exposures share a neighbour (the network "
        "variance's pairs, Σ over units of (degree + 1)², read from the edge dataset)",
    )
    max_jobs_per_user: int = Field(
        default=4, ge=1, le=10_000, description="queued + running jobs of one user (429 above)"
    )
    # scaling out (docs/service.md, "Scaling out")
    shared_state: bool = Field(
        default=False,
        description="keep the job queue, rate limits and login back-off in the database, so "
        "that any number of `cqox serve` (API only) and `cqox worker` processes share them",
    )
    database_pool_size: int = Field(
        default=10, ge=1, le=1000, description="database connections kept open by one process"
    )
    database_max_overflow: int = Field(
        default=50,
        ge=0,
        le=1000,
        description="extra database connections one process may open under load (several "
        "processes on one PostgreSQL: keep the sum under its max_connections)",
    )
    artefact_cache_mb: float = Field(
        default=64.0,
        ge=0,
        description="memory each API process keeps for rendered reports and figures "
        "(least recently used go first); 0: render on every request",
    )
    job_heartbeat_timeout_s: float = Field(
        default=60.0,
        ge=5,
        description="a running job whose worker has not reported for this long is failed "
        "(shared state: its `cqox worker` died)",
    )

    # secrets, authentication and exposure
    secret_key: str | None = Field(
        default=None,
        description="JWT signing secret; unset: a random key generated on first start and "
        "kept in <data dir>/secret_key (mode 0600)",
    )
    secret_key_previous: str | None = Field(
        default=None,
        description="the secret before a rotation: still verifies tokens, never signs",
    )
    login_free_attempts: int = Field(
        default=5, ge=1, description="failed logins of one account before back-off starts"
    )
    login_backoff_s: float = Field(
        default=1.0, gt=0, description="first back-off after the free attempts (doubles)"
    )
    login_backoff_max_s: float = Field(
        default=300.0, gt=0, description="longest back-off between logins of one account"
    )
    trusted_proxies: str = Field(
        default="",
        description="comma-separated addresses (or CIDRs) of reverse proxies whose "
        "X-Forwarded-For/-Proto `cqox serve` believes; empty: none",
    )
    metrics_token: str | None = Field(
        default=None, description="bearer token Prometheus sends to scrape /metrics"
    )
    metrics_address: str | None = Field(
        default=None,
        description="HOST:PORT of a separate metrics listener (e.g. 127.0.0.1:9464)",
    )

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> Settings:
        for name in ("secret_key", "secret_key_previous"):
            value = getattr(self, name)
            if value is not None and not value.strip():
                # an empty ``CQOX_SECRET_KEY=`` line means "not set", never "sign with ''"
                setattr(self, name, None)
                continue
            if value is None:
                continue
            if value == PUBLISHED_DEFAULT_SECRET:
                raise ValueError(
                    f"CQOX_{name.upper()} is the published development secret, which anyone "
                    "can use to sign tokens; unset it (a random key is generated) or choose "
                    "your own"
                )
            if len(value) < MIN_SECRET_CHARS:
                raise ValueError(
                    f"CQOX_{name.upper()} must have at least {MIN_SECRET_CHARS} characters "
                    "(or leave CQOX_SECRET_KEY unset to have a random key generated)"
                )
        if self.metrics_token is not None and len(self.metrics_token) < MIN_METRICS_TOKEN_CHARS:
            raise ValueError(
                f"CQOX_METRICS_TOKEN must have at least {MIN_METRICS_TOKEN_CHARS} characters"
            )
        if self.metrics_address is not None:
            _host_port(self.metrics_address, "CQOX_METRICS_ADDRESS")
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
    def kernel_cache_path(self) -> Path | None:
        """The folder of ``kernel_cache_dir``: the default when unset, ``None`` when empty."""
        if self.kernel_cache_dir is None:
            from cqox.analysis.kernel_cache import default_dir

            return default_dir(create=False)
        return Path(self.kernel_cache_dir).expanduser() if self.kernel_cache_dir.strip() else None

    @property
    def trusted_proxy_list(self) -> list[str]:
        """The trusted proxies as a list (empty: X-Forwarded-* headers are ignored)."""
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    @property
    def metrics_host_port(self) -> tuple[str, int] | None:
        """Host and port of the separate metrics listener, if one is configured."""
        if self.metrics_address is None:
            return None
        return _host_port(self.metrics_address, "CQOX_METRICS_ADDRESS")

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


def _host_port(value: str, name: str) -> tuple[str, int]:
    """Split ``HOST:PORT`` (``[::1]:9464`` for IPv6)."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{name} must be HOST:PORT (e.g. 127.0.0.1:9464); got {value!r}")
    return host.strip("[]"), int(port)


def settings_help() -> str:
    """One line per setting: environment variable, default and description (for --help)."""
    lines = []
    for name, info in Settings.model_fields.items():
        default = info.default_factory() if info.default_factory else info.default  # type: ignore[call-arg]
        if name == "secret_key":
            default = "(generated on first start)"
        lines.append(f"  CQOX_{name.upper():<26} {info.description} (default: {default})")
    return "\n".join(lines)


def get_settings(request: Request) -> Settings:
    """The settings of the running app (a dependency tests can override)."""
    settings: Settings = request.app.state.settings
    return settings
