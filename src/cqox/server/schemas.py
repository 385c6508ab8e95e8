"""Request and response bodies (pydantic), i.e. the OpenAPI schema of the service."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: A mapping value: a column, a list of columns (covariates, instrument), a cutoff number
#: or a covariate formula.
MappingValue = str | list[str] | float | int | None


def _has_nul(value: Any, depth: int = 0) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if depth > 32:
        return False
    if isinstance(value, dict):
        return any(_has_nul(k, depth + 1) or _has_nul(v, depth + 1) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v, depth + 1) for v in value)
    return False


class Strict(BaseModel):
    """A request body that refuses unknown fields and NUL bytes.

    A typo must not be silently ignored; no column, name or parameter contains a NUL
    byte, and PostgreSQL cannot store one.
    """

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if _has_nul(data):
            raise ValueError("strings must not contain NUL characters")
        return data


class LoginRequest(Strict):
    """Credentials."""

    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class TokenResponse(BaseModel):
    """Tokens answered by login and refresh."""

    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int


class RefreshRequest(Strict):
    """A refresh token."""

    refresh_token: str = Field(max_length=4096)


class LogoutRequest(Strict):
    """Optionally the refresh token to revoke with the access token."""

    refresh_token: str | None = Field(default=None, max_length=4096)


class UserCreate(Strict):
    """A new user."""

    username: str = Field(max_length=64)
    password: str = Field(min_length=8, max_length=1024)
    role: Literal["admin", "analyst", "viewer"]


class UserOut(BaseModel):
    """A user (never the password hash)."""

    id: str
    username: str
    role: str
    created_at: str


class ApiKeyCreate(Strict):
    """A new API key."""

    name: str = Field(default="api key", max_length=128)


class QualityGates(Strict):
    """Gate options: threshold overrides and whether failing gates fail the request."""

    enforce: bool = False
    fail_on: Literal["fail", "warn"] = Field(
        default="fail", description="with enforce: refuse results with a failing (or warning) gate"
    )
    thresholds: dict[str, float] = Field(default_factory=dict)


class Options(Strict):
    """Run options."""

    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    params: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="parameters per estimator, e.g. {'ipw': {'trim': 0.01}}"
    )
    infer: bool = Field(default=True, description="infer roles the mapping does not give")
    wait_s: float | None = Field(
        default=None, ge=0, le=60, description="answer inline if done within this time"
    )
    time_limit_s: float | None = Field(default=None, gt=0, le=86400)


class AnalyzeRequest(Strict):
    """A comprehensive analysis: every applicable estimator, gates, sensitivity, consensus."""

    dataset_id: str = Field(max_length=256)
    roles: dict[str, MappingValue] = Field(
        default_factory=dict,
        description="role → column, as everywhere in CQOx ('mapping' is a deprecated alias "
        "of this field; 'y', 'unit_id' and 'd' deprecated aliases of outcome, unit, treatment)",
    )
    estimators: list[str] | None = Field(default=None, max_length=100)
    quality_gates: QualityGates | bool | None = None
    options: Options = Field(default_factory=Options)
    dag: str | None = Field(
        default=None,
        max_length=100_000,
        description="a causal graph as DOT text (digraph { x -> t; x -> y; t -> y }); parsed, "
        "never evaluated",
    )
    network_dataset_id: str | None = Field(
        default=None,
        max_length=256,
        description="an uploaded dataset of edges (source, target[, weight]) linking the ids "
        "of the unit role: network interference (network_exposure; its column names are "
        "that estimator's parameters source, target, edge_weight)",
    )

    @model_validator(mode="before")
    @classmethod
    def _mapping_is_roles(cls, data: Any) -> Any:
        """Accept the deprecated field name ``mapping`` for ``roles`` (one release)."""
        if isinstance(data, dict) and "mapping" in data:
            if "roles" in data:
                raise ValueError("give 'roles' only ('mapping' is its deprecated alias)")
            data = {("roles" if k == "mapping" else k): v for k, v in data.items()}
        return data

    @field_validator("roles")
    @classmethod
    def _small_mapping(cls, v: dict[str, MappingValue]) -> dict[str, MappingValue]:
        if len(v) > 50:
            raise ValueError("at most 50 roles")
        return v

    def gates(self) -> QualityGates:
        """The gate options as an object."""
        if isinstance(self.quality_gates, QualityGates):
            return self.quality_gates
        return QualityGates(enforce=bool(self.quality_gates))


class AteRequest(AnalyzeRequest):
    """One estimator (``estimator``, default the first available of aipw/ipw)."""

    estimator: str | None = Field(default=None, max_length=64)
    estimand: Literal["ATE", "ATT", "ATC"] = "ATE"


#: CATE methods of ``POST /api/analyze/cate`` (registry names).
CateMethod = Literal[
    "causal_forest", "dr_learner", "r_learner", "x_learner", "t_learner", "s_learner"
]
#: Most rows of a ``prediction_grid`` (each is one τ̂(x) with its interval).
MAX_GRID_ROWS = 1000


class CateRequest(AnalyzeRequest):
    """Heterogeneous effects with one CATE estimator, optionally predicted on a grid."""

    method: CateMethod = "causal_forest"
    method_params: dict[str, Any] = Field(
        default_factory=dict,
        description="parameters of the method, e.g. {'n_trees': 2000, 'min_leaf_size': 5}",
    )
    prediction_grid: list[dict[str, float | int | str]] | None = Field(
        default=None,
        max_length=MAX_GRID_ROWS,
        description="covariate values (one object per point) to predict τ(x) at",
    )

    @field_validator("method_params")
    @classmethod
    def _small_params(cls, v: dict[str, Any]) -> dict[str, Any]:
        if len(v) > 50:
            raise ValueError("at most 50 method parameters")
        return v


class SensitivityRequest(Strict):
    """E-value and Rosenbaum bounds from an estimate and its confidence interval."""

    estimate: float = Field(allow_inf_nan=False)
    ci: tuple[float, float]
    ci_level: float = Field(default=0.95, gt=0, lt=1)
    scale: Literal["difference", "risk_ratio", "odds_ratio", "hazard_ratio", "smd"] = Field(
        default="difference",
        description="'difference' (mean difference; needs sd_outcome), 'risk_ratio', "
        "'odds_ratio', 'hazard_ratio' or 'smd' (standardised mean difference)",
    )
    rare: bool = Field(default=True, description="rare outcome (< 15%), for odds/hazard ratios")
    sd_outcome: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    n_pairs: int | None = Field(
        default=None, ge=2, le=10**9, description="matched pairs (for Rosenbaum bounds)"
    )
    pair_differences: list[float] | None = Field(
        default=None,
        max_length=100_000,
        description="matched-pair outcome differences (treated − control): exact Wilcoxon "
        "signed-rank Rosenbaum bounds instead of the summary approximation",
    )
    gammas: list[float] | None = Field(default=None, max_length=100)
    alpha: float = Field(default=0.05, gt=0, lt=0.5)

    @field_validator("ci")
    @classmethod
    def _ordered(cls, v: tuple[float, float]) -> tuple[float, float]:
        import math

        if not all(math.isfinite(x) for x in v) or v[0] > v[1]:
            raise ValueError("ci must be two finite numbers [low, high] with low ≤ high")
        return v

    @field_validator("gammas")
    @classmethod
    def _gammas(cls, v: list[float] | None) -> list[float] | None:
        import math

        if v is not None and any(not (math.isfinite(g) and 1 <= g <= 1000) for g in v):
            raise ValueError("each gamma must be a number in [1, 1000]")
        return v
