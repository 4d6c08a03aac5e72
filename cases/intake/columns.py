"""Columns the rules work on, and the one helper that applies plain Python to them.

The rules of intake (cases.intake.rules) run over columns: pyarrow arrays of
strings, numpy arrays of numbers and times, one entry per complaint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

Strings: TypeAlias = pa.Array
Times: TypeAlias = npt.NDArray[np.datetime64]
_STRING = pa.string()
FEW = 16
"""Up to this many rows `per_combination` simply asks `fn` row by row (the single path)."""


def per_combination(
    columns: list[pa.Array], fn: Callable[..., Any], kind: pa.DataType = _STRING
) -> pa.Array:
    """`fn(*values)` for each row, worked out once per distinct combination of values.

    The rules' inputs are few-valued (methods, codes, names), so a million
    rows have a few thousand combinations at most: `fn` is plain Python, run
    per combination, and its results are handed to the rows (no loop over
    rows). Nulls reach `fn` as None.
    """
    n = len(columns[0])
    if n <= FEW:  # a complaint or a few: hashing costs more than asking fn per row
        rows = zip(*(c.to_pylist() for c in columns), strict=True)
        return pa.array([fn(*row) for row in rows], kind)
    key = np.zeros(n, dtype=np.int64)
    vocab: list[list[Any]] = []
    for values in columns:
        enc = pc.dictionary_encode(values)
        words = enc.dictionary.to_pylist()
        idx = np.asarray(pc.fill_null(enc.indices, len(words)).to_numpy(zero_copy_only=False))
        key = key * (len(words) + 1) + idx.astype(np.int64)
        vocab.append([*words, None])
    # Distinct keys by hashing (pyarrow), not by sorting a million of them (numpy).
    distinct = pc.dictionary_encode(pa.array(key, pa.int64()))
    results = []
    for combo in distinct.dictionary.to_pylist():
        picked = []
        for words in reversed(vocab):
            combo, i = divmod(combo, len(words))
            picked.append(words[i])
        results.append(fn(*reversed(picked)))
    return pa.array(results, kind).take(distinct.indices)
