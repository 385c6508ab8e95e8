"""Domain detection from the column vocabulary.

Labels the table as healthcare, finance, marketing, education, policy, manufacturing
or unknown, with a score (share of vocabulary hits) and the words that matched.  It
only labels and suggests; it never changes an estimate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

VOCABULARY: dict[str, frozenset[str]] = {
    "healthcare": frozenset(
        {
            "patient",
            "diagnosis",
            "hospital",
            "drug",
            "dose",
            "mortality",
            "death",
            "bmi",
            "blood",
            "pressure",
            "clinic",
            "disease",
            "therapy",
            "symptom",
            "icu",
            "readmission",
            "birthweight",
            "bweight",
            "smoke",
            "mbsmoke",
            "prenatal",
            "hiv",
            "cancer",
            "age",
            "sex",
            "survival",
            "medication",
            "vaccine",
            "health",
            "care",
            "nurse",
            "physician",
        }
    ),
    "finance": frozenset(
        {
            "price",
            "return",
            "returns",
            "loan",
            "credit",
            "default",
            "interest",
            "rate",
            "income",
            "asset",
            "assets",
            "stock",
            "portfolio",
            "bank",
            "debt",
            "balance",
            "account",
            "savings",
            "investment",
            "invest",
            "tax",
            "wealth",
            "fee",
            "payment",
        }
    ),
    "marketing": frozenset(
        {
            "campaign",
            "click",
            "clicks",
            "conversion",
            "customer",
            "revenue",
            "sales",
            "ad",
            "ads",
            "impression",
            "impressions",
            "coupon",
            "discount",
            "channel",
            "email",
            "promotion",
            "purchase",
            "churn",
            "retention",
            "cart",
            "segment",
            "uplift",
            "ctr",
        }
    ),
    "education": frozenset(
        {
            "student",
            "school",
            "teacher",
            "grade",
            "test",
            "score",
            "educ",
            "education",
            "class",
            "classroom",
            "exam",
            "enrollment",
            "college",
            "tuition",
            "scholarship",
            "attendance",
            "graduation",
            "math",
            "reading",
            "literacy",
            "nearc4",
            "degree",
        }
    ),
    "policy": frozenset(
        {
            "state",
            "county",
            "policy",
            "law",
            "minimum",
            "wage",
            "unemployment",
            "crime",
            "homicide",
            "population",
            "poverty",
            "election",
            "vote",
            "welfare",
            "program",
            "reform",
            "year",
            "region",
            "government",
            "gdp",
            "gdpcap",
            "lemp",
            "lpop",
            "treat",
            "post",
            "police",
            "subsidy",
            "earnings",
            "re74",
            "re75",
            "re78",
        }
    ),
    "manufacturing": frozenset(
        {
            "machine",
            "defect",
            "defects",
            "yield",
            "throughput",
            "temperature",
            "pressure",
            "line",
            "shift",
            "batch",
            "supplier",
            "downtime",
            "maintenance",
            "sensor",
            "plant",
            "production",
            "quality",
            "inspection",
            "scrap",
            "cycle",
            "operator",
            "failure",
        }
    ),
}


@dataclass(frozen=True)
class DomainGuess:
    """The detected domain, its score in [0, 1], and the words that matched."""

    domain: str
    score: float
    evidence: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "domain": self.domain,
            "score": round(self.score, 3),
            "evidence": self.evidence,
            "scores": {k: round(v, 3) for k, v in self.scores.items()},
        }


def _tokens(columns: list[str]) -> list[str]:
    out: list[str] = []
    for c in columns:
        out.extend(w for w in re.split(r"[^a-z]+", str(c).lower()) if len(w) > 1)
    return out


def detect_domain(columns: list[str], min_hits: int = 2) -> DomainGuess:
    """The domain whose vocabulary the column names hit most.

    ``unknown`` when no domain hits at least ``min_hits`` words.
    """
    words = _tokens(columns)
    if not words:
        return DomainGuess("unknown", 0.0)
    hits = {d: sorted({w for w in words if w in vocab}) for d, vocab in VOCABULARY.items()}
    scores = {d: len(h) / max(1, len(set(words))) for d, h in hits.items()}
    best = max(hits, key=lambda d: (len(hits[d]), scores[d]))
    if len(hits[best]) < min_hits:
        return DomainGuess("unknown", 0.0, [], scores)
    return DomainGuess(best, scores[best], hits[best], scores)
