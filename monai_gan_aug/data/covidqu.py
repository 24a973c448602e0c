"""Which population a COVID-QU-Ex film comes from: adult or paediatric.

COVID-QU-Ex compiles public collections. Its ``Normal`` class mixes adult films with paediatric
films of the Kermany "Chest X-Ray Images (Pneumonia)" set, while every ``COVID-19`` film is an
adult's. A model trained to tell the classes apart can therefore learn *child vs adult* instead
of *healthy vs diseased*, and a lesion painted on a child's film cannot look like an adult COVID
film however good the lesion is.

In the shared copy (``../shared/data/covidqu``, source files ``Normal (<n>).png``) the paediatric
films are exactly the contiguous source block ``n`` in ``[11767, 12000]`` (171 of the 853 normal
films): all 69 normal films whose 16 x 16 difference hash lies within 20 bits of a Kermany film
of ``../shared/data/kermany`` fall in it (the other Kermany films are not in that folder), and a
visual check of 12 random films of each source block showed children in this block only
(``docs/lesion_opacity.md``, "The covidqu normals are two populations").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError

__all__ = ["PAEDIATRIC_NORMAL_SOURCES", "POPULATIONS", "covidqu_population", "select_population"]

#: inclusive range of the ``Normal (<n>).png`` source numbers that are paediatric (Kermany) films
PAEDIATRIC_NORMAL_SOURCES = (11767, 12000)

#: accepted ``population`` values of :func:`select_population`
POPULATIONS = ("all", "adult", "paediatric")

_NORMAL_SOURCE = re.compile(r"Normal \((\d+)\)\.png$", re.IGNORECASE)


def covidqu_population(row: Mapping[str, Any]) -> str:
    """``"paediatric"`` or ``"adult"`` for one covidqu manifest row (or manifest-dataset item).

    Args:
        row: a mapping with ``source_path`` (the file's path in COVID-QU-Ex) and ``label``.

    Returns:
        ``"paediatric"`` for a normal film of the paediatric source block, else ``"adult"`` (COVID
        films, normal films of the other blocks, and rows without a recognisable source path).
    """
    match = _NORMAL_SOURCE.search(str(row.get("source_path", "")))
    if match is None or str(row.get("label", "")).lower() != "normal":
        return "adult"
    lo, hi = PAEDIATRIC_NORMAL_SOURCES
    return "paediatric" if lo <= int(match.group(1)) <= hi else "adult"


def select_population(rows: list[Mapping[str, Any]], population: str = "all") -> list[Mapping[str, Any]]:
    """The rows of one population (``"all"``: every row).

    Raises:
        ConfigError: unknown ``population``.
    """
    if population not in POPULATIONS:
        raise ConfigError(f"population must be one of {POPULATIONS}, found {population!r}")
    if population == "all":
        return list(rows)
    return [r for r in rows if covidqu_population(r) == population]
