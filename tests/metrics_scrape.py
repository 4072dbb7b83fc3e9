"""Scraping a service's ``/metrics`` in tests, parsed as Prometheus parses it."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Scrape:
    """One scrape: every sample by name and labels."""

    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]

    def value(self, name: str, **labels: str) -> float:
        """The sample ``name`` with exactly ``labels``; KeyError when it is missing."""
        return self.samples[(name, frozenset(labels.items()))]

    def get(self, name: str, **labels: str) -> float:
        """The sample ``name`` with exactly ``labels``; 0 when it is missing
        (a labelled counter appears only once counted)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def names(self) -> set[str]:
        return {name for name, _ in self.samples}


async def scrape(base_url: str) -> Scrape:
    """``base_url``'s ``/metrics`` (``base_url`` is ``http://host:port``)."""
    async with httpx.AsyncClient(timeout=10.0) as client:
        response = await client.get(f"{base_url}/metrics")
    response.raise_for_status()
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return Scrape(samples)
