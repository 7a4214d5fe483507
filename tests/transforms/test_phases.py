"""Curate's phase fingerprints read each step's own config section, and a step without one is an error."""
from __future__ import annotations

import pytest

from beam_pipeline import curate_steps
from transforms.config import CurateConfig
from transforms.phases import UnmappedStepError, fingerprints, plan_phases


class _NewStep:
    label = "brand_new_step"


def test_every_default_curate_step_has_a_config_section_and_a_change_reruns_only_its_phase_onwards():
    config = CurateConfig()
    config.pii.enabled = False
    before = fingerprints(plan_phases(curate_steps(config)), config, [], {})
    config.minhash.threshold = config.minhash.threshold / 2
    after = fingerprints(plan_phases(curate_steps(config)), config, [], {})
    # 1-filter is reused; 2-dedup.exact writes the columns MinHash reads, so it reruns with 3-dedup.minhash
    assert before[0] == after[0] and before[1] != after[1] and before[2] != after[2]


def test_a_step_label_without_a_config_section_is_an_error_not_the_whole_config():
    phases = plan_phases([_NewStep()])
    with pytest.raises(UnmappedStepError, match="'brand_new_step' has no config section"):
        fingerprints(phases, CurateConfig(), [], {})
