"""Knowledge score -> repeat weight: the contract between curate, which records the mapping in
``stats.json`` (``steps.knowledge.upsampling``), and the build, which applies it."""
from __future__ import annotations

from dataclasses import dataclass

from corpus.config import ConfigError


@dataclass
class UpsamplingConfig:
    """Score -> repeat weight: 1 below ``threshold``, rising linearly to ``max_repeat`` at score 1.

    ``threshold = 0.5`` is the classifier's own decision boundary (P(knowledge) > P(other)); it is
    the binary counterpart of FineWeb-Edu's cut at 3 on its 0-5 educational scale (Penedo et al.
    2024), and unlike DCLM's top-10% cut (Li et al. 2024) it does not depend on one model's score
    distribution. ``max_repeat = 4`` follows Muennighoff et al. 2023 ("Scaling Data-Constrained
    Language Models"): up to ~4 epochs of repeated tokens are worth almost as much as fresh ones;
    beyond that returns fall off quickly.
    """

    threshold: float = 0.5
    max_repeat: float = 4.0

    def validate(self) -> None:
        if not 0.0 <= self.threshold < 1.0:
            raise ConfigError(f"knowledge.upsampling.threshold: must be in [0, 1), got {self.threshold}")
        if self.max_repeat < 1.0:
            raise ConfigError(f"knowledge.upsampling.max_repeat: must be >= 1, got {self.max_repeat}")


def upsampling_weight(score: float, config: UpsamplingConfig) -> float:
    """How many times a document with knowledge ``score`` should appear (>= 1, fractional: the
    build step turns the fraction into a hash-seeded extra copy)."""
    if score <= config.threshold:
        return 1.0
    fraction = (min(score, 1.0) - config.threshold) / (1.0 - config.threshold)
    return 1.0 + (config.max_repeat - 1.0) * fraction
