"""Export a checkpoint as a Hugging Face Llama model: ``python -m trainer.export RUN_DIR OUT_DIR``.

Writes ``config.json`` (LlamaConfig), ``model.safetensors`` and, when the corpus's tokenizer directory is found, its
``tokenizer.json`` and ``korpus_tokenizer.json`` (byte for byte) with the Hugging Face tokenizer class that runs the
training pre-tokenizer (``tokenization_korpus.py``, ``tokenizer_config.json``; docs/tokenizer-export.md).
``transformers`` loads the result with ``LlamaForCausalLM.from_pretrained(OUT_DIR)`` and
``AutoTokenizer.from_pretrained(OUT_DIR, trust_remote_code=True)``, which gives the training ids. The model's numerics are HF Llama's, so the export only renames
weights. The RoPE base is the one in effect at the checkpoint (500,000 after the 32k switch). Document masking is a
training-time detail: on one document per sequence, which is how the exported model is used, the logits match.
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import warnings
from pathlib import Path

import torch
import torch.distributed.checkpoint as dcp
from safetensors.torch import save_file

from corpus.hashing import sha256_file
from corpus.manifest import Manifest
from corpus.tokenizer.hf_files import write_hf_files
from corpus.tokenizer.saved import CONFIG_FILE, TOKENIZER_FILE
from corpus.tokenizer.specials import ENDOFTEXT
from trainer.checkpoint import latest_complete, read_complete, step_dir
from trainer.config import ModelConfig
from trainer.model import Transformer

log = logging.getLogger("trainer.export")


# Our parameter names -> HF Llama's, per layer and at the root.
_LAYER_NAMES = {
    "attention_norm.weight": "input_layernorm.weight",
    "attention.wq.weight": "self_attn.q_proj.weight",
    "attention.wk.weight": "self_attn.k_proj.weight",
    "attention.wv.weight": "self_attn.v_proj.weight",
    "attention.wo.weight": "self_attn.o_proj.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "feed_forward.w1.weight": "mlp.gate_proj.weight",
    "feed_forward.w3.weight": "mlp.up_proj.weight",
    "feed_forward.w2.weight": "mlp.down_proj.weight",
}
_ROOT_NAMES = {"tok_embeddings.weight": "model.embed_tokens.weight", "norm.weight": "model.norm.weight",
               "output.weight": "lm_head.weight"}


def hf_name(name: str) -> str:
    if name in _ROOT_NAMES:
        return _ROOT_NAMES[name]
    _, index, rest = name.split(".", 2)  # layers.<i>.<rest>
    return f"model.layers.{index}.{_LAYER_NAMES[rest]}"


def load_checkpoint(path: Path) -> Transformer:
    """An unsharded fp32 model on CPU with the checkpoint's weights (DCP reshards whatever rank count saved it)."""
    record = read_complete(path)
    model = Transformer(ModelConfig(**record["model_config"]))
    state = {"model": model.state_dict()}
    with warnings.catch_warnings():  # single-process loading is the point here, not an accident to warn about
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        dcp.load(state, checkpoint_id=str(path), no_dist=True)
    model.load_state_dict(state["model"])
    return model


def hf_config(config: ModelConfig, max_positions: int, special_tokens: dict[str, int], dtype: torch.dtype):
    from transformers import LlamaConfig

    eos = special_tokens.get(ENDOFTEXT)
    return LlamaConfig(
        vocab_size=config.vocab_size, hidden_size=config.d_model, intermediate_size=config.ffn_dim,
        num_hidden_layers=config.n_layers, num_attention_heads=config.n_heads, num_key_value_heads=config.n_kv_heads,
        head_dim=config.d_head, hidden_act="silu", max_position_embeddings=max_positions,
        rms_norm_eps=config.norm_eps, rope_parameters={"rope_type": "default", "rope_theta": config.rope_base},
        tie_word_embeddings=False, attention_bias=False, mlp_bias=False,
        bos_token_id=eos, eos_token_id=eos, pad_token_id=None, dtype=dtype,
        architectures=["LlamaForCausalLM"],
    )


def export(run_dir: Path, out_dir: Path, step: int | None = None, dtype: torch.dtype = torch.bfloat16) -> Path:
    checkpoints = run_dir / "checkpoints"
    path = step_dir(checkpoints, step) if step is not None else latest_complete(checkpoints)
    if path is None or not path.exists():
        raise SystemExit(f"no complete checkpoint in {checkpoints}" + (f" for step {step}" if step else ""))
    run = json.loads((run_dir / "run.json").read_text())
    manifest = Manifest.load(run["corpus"])
    model = load_checkpoint(path)
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {hf_name(name): tensor.to(dtype).contiguous() for name, tensor in model.state_dict().items()}
    save_file(tensors, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    phases = run["phases"] if "phases" in run else run["stages"]  # "stages" in runs from before the rename
    max_positions = max(phase["seq_len"] for phase in phases)
    hf_config(model.config, max_positions, manifest.tokenizer.special_tokens, dtype).save_pretrained(out_dir)
    _copy_tokenizer(manifest, out_dir, max_positions)
    log.info("exported %s (step %d) to %s", path, read_complete(path)["step"], out_dir)
    return out_dir


def tokenizer_dir(manifest: Manifest) -> Path | None:
    """The corpus's tokenizer directory: the manifest's path, absolute or relative to the corpus or to the directory
    the build ran in, accepted only where tokenizer.json has the sha256 the manifest recorded."""
    assert manifest.root is not None
    recorded = Path(manifest.tokenizer.path)
    candidates = [recorded] if recorded.is_absolute() else [manifest.root / recorded, Path.cwd() / recorded]
    for directory in candidates:
        source = directory / "tokenizer.json"
        if source.exists() and sha256_file(source) == manifest.tokenizer.sha256:
            return directory
    return None


def _copy_tokenizer(manifest: Manifest, out_dir: Path, max_positions: int) -> None:
    directory = tokenizer_dir(manifest)
    if directory is None:
        log.warning("no tokenizer.json matching the manifest's sha256 at %s; exported the model without a tokenizer",
                    manifest.tokenizer.path)
        return
    if not (directory / CONFIG_FILE).exists():
        log.warning("%s has no %s (not a korpus tokenizer); exported the model without a tokenizer", directory,
                    CONFIG_FILE)
        return
    for name in (TOKENIZER_FILE, CONFIG_FILE):
        shutil.copyfile(directory / name, out_dir / name)
    write_hf_files(out_dir, manifest.tokenizer.special_tokens, max_positions)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    p = argparse.ArgumentParser(prog="python -m trainer.export", description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--step", type=int, default=None, help="checkpoint step (default: the newest complete one)")
    p.add_argument("--dtype", choices=("bfloat16", "float32"), default="bfloat16")
    args = p.parse_args(argv)
    export(args.run_dir, args.out_dir, args.step, getattr(torch, args.dtype))
    return 0


if __name__ == "__main__":
    sys.exit(main())
