"""The MFU FLOP count, the device peak, and the metrics log on resume."""
from __future__ import annotations

import torch

from trainer.config import preset
from trainer.metrics import MetricsLog, attended_length, flops_per_token, peak_bf16_flops


def test_flops_per_token_is_six_n_plus_attention():
    config = preset("1.3B").model_config(vocab_size=100_352)
    layers, d, kv, ffn, vocab = 24, 2048, 4 * 128, 5632, 100_352
    non_embedding = layers * (2 * d * d + 2 * d * kv + 3 * d * ffn + 2 * d) + d + vocab * d
    assert config.num_params(include_embedding=False) == non_embedding
    assert flops_per_token(config, 4096) == 6 * non_embedding + 12 * layers * 16 * 128 * 4096


def test_flops_under_document_masking_count_each_documents_square_by_hand():
    # tiny: 2 layers, d_model 64, 4 heads of 16, 2 KV heads, SwiGLU 192, vocab 320.
    config = preset("tiny").model_config(vocab_size=320)
    per_layer = 64 * 16 * (2 * 4 + 2 * 2) + 3 * 64 * 192 + 2 * 64  # q,k,v,o + w1,w2,w3 + two norms = 49,280
    non_embedding = 2 * per_layer + 64 + 320 * 64  # + final norm + output projection = 119,104
    assert config.num_params(include_embedding=False) == non_embedding == 119_104
    attention_per_attended = 12 * 2 * 4 * 16  # 1,536 FLOPs per token per attended position
    # One row of 8 tokens holding documents of 3 and 5: squares 9 + 25 = 34 over 8 tokens.
    assert attended_length(34, 8) == 4.25
    assert flops_per_token(config, attended_length(34, 8)) == 6 * 119_104 + 1_536 * 4.25 == 721_152
    assert flops_per_token(config, 8) == 6 * 119_104 + attention_per_attended * 8 == 726_912  # full causal
    # A row that is one document attends over the whole row: both counts agree.
    assert flops_per_token(config, attended_length(8 * 8, 8)) == flops_per_token(config, 8)


def test_issue_example_full_causal_count_overstates_1_3b_at_32k_by_about_2_7x():
    # 1.3B at 32k with documents of 200-6,000 tokens (issue 16): the full-causal count is ~2.7x what is computed.
    config = preset("1.3B").model_config(vocab_size=100_352)
    lengths = range(200, 6001)
    attended = attended_length(sum(n * n for n in lengths), sum(lengths))
    assert 3990 < attended < 4010
    assert 2.6 < flops_per_token(config, 32_768) / flops_per_token(config, attended) < 2.8


def test_cpu_has_no_peak_so_mfu_is_not_reported():
    assert peak_bf16_flops(torch.device("cpu")) is None


def test_metrics_resume_drops_steps_past_the_checkpoint_and_a_torn_last_line(tmp_path):
    log = MetricsLog(tmp_path / "metrics.jsonl", enabled=True)
    for step in range(1, 6):
        log.write({"step": step, "loss": 1.0})
    with log.path.open("a") as fh:
        fh.write('{"step": 6, "lo')  # killed mid-write
    log.truncate_after(3)
    assert [line for line in log.path.read_text().splitlines()] == [
        '{"loss": 1.0, "step": 1}', '{"loss": 1.0, "step": 2}', '{"loss": 1.0, "step": 3}']
