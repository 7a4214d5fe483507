import torch

from benchmarks.train_mfu import PEER_ATTENTION, register_peer_attention
from trainer.config import preset
from trainer.export import hf_config, hf_name
from trainer.model import Layout, Transformer


def test_hf_peer_with_the_trainers_document_attention_gives_our_logits_on_packed_rows():
    from transformers import LlamaForCausalLM

    config = preset("tiny").model_config(256)
    ours = Transformer(config, "sdpa")
    ours.init_weights(0)
    register_peer_attention()
    hf = LlamaForCausalLM._from_config(hf_config(config, 64, {}, torch.float32), attn_implementation=PEER_ATTENTION)
    hf.load_state_dict({hf_name(name): tensor for name, tensor in ours.state_dict().items()})
    ours.eval(), hf.eval()
    tokens = torch.randint(1, 256, (2, 48), generator=torch.Generator().manual_seed(0))
    # Three documents in row 0, two in row 1: attention must stay within each.
    positions = torch.stack([torch.cat([torch.arange(10), torch.arange(30), torch.arange(8)]),
                             torch.cat([torch.arange(20), torch.arange(28)])])
    doc_ids = torch.stack([torch.cat([torch.full((10,), 0), torch.full((30,), 1), torch.full((8,), 2)]),
                           torch.cat([torch.full((20,), 0), torch.full((28,), 1)])])
    with torch.no_grad():
        expected = ours(tokens, Layout(positions, doc_ids))
        peer = hf(input_ids=tokens, position_ids=positions, use_cache=False, doc_ids=doc_ids).logits
        torch.testing.assert_close(peer, expected, rtol=1e-5, atol=1e-5)
        # Without the document ids the peer's kernel would attend across documents: the check above can fail.
        across = hf(input_ids=tokens, position_ids=positions, use_cache=False,
                    doc_ids=torch.zeros_like(doc_ids)).logits
        assert not torch.allclose(across, expected, rtol=1e-5, atol=1e-5)
