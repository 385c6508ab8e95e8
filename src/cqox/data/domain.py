"""Domain detection from the column vocabulary.

Labels the table as healthcare, finance, marketing, education, policy, manufacturing
or unknown, with a score in [0, 1] and the words that matched (see
:func:`detect_domain`).  It
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
            "aids",
            "birth",
            "pregnancy",
            "smoking",
            "cholesterol",
            "alcohol",
            "suicide",
            "drugs",
            "diabetes",
            "stroke",
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
            "unemployed",
            "unemployrt",
            "job",
            "training",
            "prisoner",
            "immigration",
            "immigr",
            "congress",
            "senate",
            "democrat",
            "republican",
            "incumbent",
            "pubwelfare",
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


#: Words that appear in tables of many domains: weak evidence (weight ``GENERIC_WEIGHT``).
GENERIC: frozenset[str] = frozenset(
    {
        "age",
        "sex",
        "gender",
        "year",
        "treat",
        "post",
        "state",
        "region",
        "income",
        "rate",
        "score",
        "test",
        "educ",
        "education",
        "dose",
        "pressure",
        "return",
        "line",
        "shift",
        "class",
        "balance",
        "default",
        "care",
        "health",
        "quality",
        "cycle",
    }
)
#: Weight of a generic word relative to a specific one.
GENERIC_WEIGHT = 0.3
#: Evidence weight below which the domain is ``unknown``.
MIN_EVIDENCE = 1.0
#: Evidence weight at which the score saturates (three specific words).
FULL_EVIDENCE = 3.0
#: Words in Chinese/Japanese/Korean column names, matched as substrings.
CJK_VOCABULARY: dict[str, tuple[str, ...]] = {
    "healthcare": (
        "患者",
        "病院",
        "医院",
        "治療",
        "治疗",
        "投薬",
        "死亡",
        "診断",
        "诊断",
        "환자",
        "병원",
    ),
    "finance": (
        "価格",
        "价格",
        "金利",
        "利率",
        "融資",
        "贷款",
        "株価",
        "股价",
        "預金",
        "存款",
        "금리",
    ),
    "marketing": ("売上", "销售", "顧客", "客户", "広告", "广告", "購入", "购买", "매출", "고객"),
    "education": ("学生", "学校", "成績", "成绩", "教師", "教师", "학생", "학교"),
    "policy": ("政策", "失業", "失业", "選挙", "选举", "人口", "정책"),
    "manufacturing": ("工場", "工厂", "不良", "生産", "生产", "設備", "设备", "공장"),
}


def _tokens(columns: list[str]) -> list[str]:
    """Lower-case words of the column names (camelCase split; digits stripped too)."""
    out: list[str] = []
    for c in columns:
        spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", str(c))
        for w in re.split(r"[^a-z0-9]+", spaced.lower()):
            if len(w) > 1:
                out.append(w)
                letters = re.sub(r"[0-9]+", "", w)
                if letters != w and len(letters) > 1:
                    out.append(letters)
    return out


def _matches(word: str, vocab: frozenset[str]) -> str | None:
    if word in vocab:
        return word
    # compound names: "mbsmoke" ends with "smoke"; "patientid" starts with "patient"
    for v in vocab:
        if len(v) >= 5 and (word.startswith(v) or word.endswith(v)):
            return v
    return None


def detect_domain(columns: list[str], min_hits: int = 1) -> DomainGuess:
    """The domain whose vocabulary the column names hit most.

    Each column word found in a domain's vocabulary adds 1 to that domain's evidence
    (``GENERIC_WEIGHT`` for words common to many domains, such as ``age`` or ``year``);
    Chinese, Japanese and Korean names are matched by substring.  The best domain
    needs evidence of at least ``MIN_EVIDENCE`` and ``min_hits`` distinct specific
    words, else the answer is ``unknown``.  Its score in [0, 1] is its share of all
    evidence times ``min(1, evidence / FULL_EVIDENCE)``.  The label only suggests; it
    never changes an estimate.

    Example
    -------
    >>> detect_domain(["patient_id", "drug", "mortality", "age"]).domain
    'healthcare'
    """
    words = sorted(set(_tokens(columns)))
    raw = [str(c) for c in columns]
    hits: dict[str, list[str]] = {d: [] for d in VOCABULARY}
    weight: dict[str, float] = {d: 0.0 for d in VOCABULARY}
    specific: dict[str, int] = {d: 0 for d in VOCABULARY}
    for d, vocab in VOCABULARY.items():
        for w in words:
            m = _matches(w, vocab)
            if m is None or m in hits[d]:
                continue
            hits[d].append(m)
            generic = m in GENERIC
            weight[d] += GENERIC_WEIGHT if generic else 1.0
            specific[d] += 0 if generic else 1
        for term in CJK_VOCABULARY.get(d, ()):
            if any(term in c for c in raw) and term not in hits[d]:
                hits[d].append(term)
                weight[d] += 1.0
                specific[d] += 1
    total = sum(weight.values())
    scores = {
        d: (w / total) * min(1.0, w / FULL_EVIDENCE) if total else 0.0 for d, w in weight.items()
    }
    best = max(VOCABULARY, key=lambda d: (weight[d], specific[d]))
    if weight[best] < MIN_EVIDENCE or specific[best] < min_hits:
        return DomainGuess("unknown", 0.0, [], scores)
    return DomainGuess(best, scores[best], sorted(hits[best]), scores)
