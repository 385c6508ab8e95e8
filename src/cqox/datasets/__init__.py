"""Small real data sets that the documentation uses, shipped with CQOx.

>>> import cqox
>>> cqox.datasets.list()
['lalonde', 'lalonde_cps', 'card', 'castle', 'thornton_hiv', 'mlda']
>>> card = cqox.datasets.load("card")
>>> print(cqox.datasets.describe("card").licence)
public-domain survey data (NLSYM, U.S. Bureau of Labor Statistics)

Sources, licences and why other data sets are not shipped: ``LICENSES.md`` in this
folder (and ``docs/datasets.md``).
"""

from __future__ import annotations

from cqox.datasets.catalog import CATALOG, DatasetInfo, describe, load

# ``cqox.datasets.list()`` reads naturally; the builtin is shadowed only in this namespace
from cqox.datasets.catalog import names as list

__all__ = ["CATALOG", "DatasetInfo", "describe", "list", "load"]
