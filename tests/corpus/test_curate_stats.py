"""The build reads curate's per-step stats under their current name and the one older runs wrote."""
from __future__ import annotations

from corpus.curate_stats import step_stats
from mixtures.build import curated_upsampling


def test_step_stats_read_from_steps_and_from_the_stages_of_older_stats_files():
    mapping = {"threshold": 0.5, "max_repeat": 4.0}
    for key in ("steps", "stages"):
        stats = {key: {"knowledge": {"upsampling": mapping}}}
        assert step_stats(stats) == {"knowledge": {"upsampling": mapping}}
        config, source = curated_upsampling(stats, "OUT/stats.json")
        assert (config.threshold, config.max_repeat, source) == (0.5, 4.0, "curate stats.json: steps.knowledge.upsampling")
    assert step_stats(None) == {} == step_stats({"totals": {}})
