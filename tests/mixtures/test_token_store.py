"""The token store: spill-file refs are readable once their writer is closed; inline refs are the
bytes; ``slice_tokens`` narrows either kind to the ids a row uses."""
from __future__ import annotations

import numpy as np
import pytest

from mixtures.token_store import StoreReader, StoreWriter, slice_tokens


def test_spill_file_refs_are_readable_once_their_writer_is_closed(tmp_path):
    writer = StoreWriter(tmp_path)
    tokens, text = writer.put_tokens([7, 1 << 31, 3]), writer.put_text("코드 fim")
    reader = StoreReader(tmp_path)
    with pytest.raises(OSError, match="short read"):  # buffered: a read before the close fails, never races
        reader.tokens(tokens)
    writer.close()
    assert reader.tokens(tokens).tolist() == [7, 1 << 31, 3] and reader.tokens(tokens).dtype == np.dtype("<u4")
    assert reader.text(text) == "코드 fim"
    reader.close()


@pytest.mark.parametrize("inline", [False, True])
def test_a_sliced_ref_reads_exactly_its_ids(tmp_path, inline):
    writer = StoreWriter(None if inline else tmp_path)
    ref = writer.put_tokens(np.arange(100, 110))
    writer.close()
    reader = StoreReader(None if inline else tmp_path)
    assert isinstance(ref, bytes) == inline
    assert reader.tokens(slice_tokens(ref, 2, 5)).tolist() == [102, 103, 104]
    assert reader.tokens(slice_tokens(ref, 10, 10)).tolist() == []
    reader.close()


def test_an_inline_build_refuses_a_spill_file_ref():
    with pytest.raises(ValueError, match="inline"):
        StoreReader(None).tokens(("x.bin", 0, 4))
