"""Import libraries whose machine-learning stacks are optional without those stacks.

Presidio imports ``transformers`` and ``torch`` for NLP engines and GPU detection, and spaCy's
``thinc`` imports ``torch`` to look for a GPU. This project runs neither on either library: its
recognizers are rules on the raw text and its spaCy tokenizers are rule-based, yet the imports
cost each process 4-9 s and a few hundred MB (measured on the 2-core machine), paid by every Beam
worker. Each such import is optional upstream (a ``try: import ... except ImportError``), so inside
``without_ml_stacks`` the stacks are masked in ``sys.modules``, which makes their import raise
``ImportError``; the library then runs without them, on CPU. Stacks already imported are left as
they are, and the masks are removed on exit, so a later ``import torch`` (the trainer in the same
process) works. The mask is process-wide: a thread importing torch while it is up gets the
``ImportError`` too, so it is used only around the first import of a library, which curate's
DoFns do in ``setup`` or on their first element, when no other thread of theirs imports torch.
"""
from __future__ import annotations

import contextlib
import sys
from typing import Iterator

ML_STACKS = ("transformers", "torch")


@contextlib.contextmanager
def without_ml_stacks() -> Iterator[None]:
    """Inside: ``import transformers`` and ``import torch`` raise ImportError (unless already imported)."""
    masked = [name for name in ML_STACKS if name not in sys.modules]
    for name in masked:
        sys.modules[name] = None  # type: ignore[assignment]  # the documented way to make an import fail
    try:
        yield
    finally:
        for name in masked:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]
