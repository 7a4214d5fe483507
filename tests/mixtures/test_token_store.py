"""The token store on an object store (the in-memory test filesystem): refs are read back through
Beam's FileSystems, and only once their writer is closed, as on GCS."""
from __future__ import annotations

import numpy as np
import pytest
from apache_beam.io.filesystem import BeamIOError

from mixtures.token_store import StoreReader, StoreWriter


def test_refs_on_an_object_store_are_readable_once_their_writer_is_closed(memtest_root):
    work = f"{memtest_root}/.build-work"
    writer = StoreWriter(work)
    tokens, text = writer.put_tokens([7, 1 << 31, 3]), writer.put_text("코드 fim")
    reader = StoreReader(work)
    with pytest.raises(BeamIOError):  # an unfinished object does not exist yet
        reader.tokens(tokens)
    writer.close()
    assert reader.tokens(tokens).tolist() == [7, 1 << 31, 3] and reader.tokens(tokens).dtype == np.dtype("<u4")
    assert reader.text(text) == "코드 fim"
    reader.close()
