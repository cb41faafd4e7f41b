"""Live endpoints: their variants, the instances behind them, and how a request picks one.

A :class:`LiveEndpoint` is immutable in shape once built: an update builds a
whole new one and swaps it in, so a request that picked an instance keeps
it until answered while new requests go to the new fleet. Picking an
instance and counting the request on it happen without an ``await`` in
between, which is what lets an old fleet drain to exactly zero.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from typing import Any

from services.hosting.models import DataCaptureConfig, EndpointConfig, Model, VariantSummary
from services.inference.instance import Instance


@dataclass
class LiveVariant:
    """A production (or shadow) variant and its instances."""

    name: str
    model: Model
    weight: float
    instances: list[Instance]
    deployed_images: list[dict[str, Any]]
    _turn: itertools.count = field(default_factory=itertools.count)  # type: ignore[type-arg]

    def pick(self) -> Instance | None:
        """The healthy instance with the fewest requests in flight (ties rotate), acquired; ``None`` if none."""
        healthy = [i for i in self.instances if i.healthy]
        if not healthy:
            return None
        start = next(self._turn) % len(healthy)
        rotated = healthy[start:] + healthy[:start]
        chosen = min(rotated, key=lambda i: i.in_flight)
        chosen.acquire()
        return chosen

    def summary(self, desired_weight: float | None = None) -> VariantSummary:
        """``ProductionVariantSummary`` of this variant as it runs."""
        count = len([i for i in self.instances if not i.stopping])
        return VariantSummary(variant_name=self.name, deployed_images=self.deployed_images,
                              current_weight=self.weight, desired_weight=self.weight if desired_weight is None
                              else desired_weight, current_instance_count=count, desired_instance_count=count)


@dataclass
class LiveEndpoint:
    """One endpoint's serving fleet, built from one endpoint config."""

    name: str
    config: EndpointConfig
    variants: dict[str, LiveVariant]
    shadows: dict[str, LiveVariant]

    @property
    def capture(self) -> DataCaptureConfig | None:
        """The data capture settings, when capture is on."""
        cfg = self.config.data_capture_config
        return cfg if cfg is not None and cfg.enable_capture is not False else None

    def choose(self, target: str | None) -> LiveVariant:
        """The variant for a request: ``target`` if given, else drawn by weight.

        :raises KeyError: ``target`` names no production variant.
        """
        if target:
            return self.variants[target]
        variants = list(self.variants.values())
        weights = [max(0.0, v.weight) for v in variants]
        if sum(weights) <= 0:
            return variants[0]
        return random.choices(variants, weights)[0]

    def instances(self) -> list[Instance]:
        """Every instance of every variant, shadows included."""
        return [i for v in (*self.variants.values(), *self.shadows.values()) for i in v.instances]

    def summaries(self) -> tuple[list[VariantSummary], list[VariantSummary]]:
        """Production and shadow variant summaries for ``DescribeEndpoint``."""
        return ([v.summary() for v in self.variants.values()], [v.summary() for v in self.shadows.values()])
