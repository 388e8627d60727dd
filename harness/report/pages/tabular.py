"""CSV and JSON bytes of a frame, built column-wise in Arrow's compute kernels (pyarrow ships with
``datasets``): each column becomes an array of field texts — floats by Arrow's shortest round-trip
formatting, the few distinct values of a name column formatted once in Python and taken by code —
and the rows are joined element-wise in C++. At 648,000 records pandas' ``to_csv`` spends seconds in
numpy's float-to-string conversion and Python's ``repr`` is not much faster; this takes a fraction.

CSV: QUOTE_MINIMAL, NaN/None as an empty field, booleans as True/False, "\\n" line ends (as pandas).
JSON: an array of row objects (as ``to_json(orient="records")``), NaN/None/±inf as ``null``, '<', '>'
and '&' as unicode escapes so it is inert wherever it is pasted. Floats in both are the shortest text
that reads back as the same double (integral values keep a ".0", e.g. ``1.0``; Arrow writes large and
tiny magnitudes with an exponent earlier than Python's repr, e.g. ``1e+10``, ``0.00001``).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_SPECIAL = (",", '"', "\n", "\r")
CHUNK_ROWS = 50_000  # rows formatted at a time: bounds the memory of the per-cell texts


def safe_json(text: str) -> str:
    """JSON that is inert wherever it is pasted: '<', '>' and '&' as unicode escapes."""
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def csv_field(text: str) -> str:
    if any(c in text for c in _SPECIAL):
        return '"' + text.replace('"', '""') + '"'
    return text


def json_string(text: str) -> str:
    return safe_json(json.dumps(text, ensure_ascii=False))


def _object_text(value: Any) -> tuple[str, str]:
    """(CSV field, JSON value) of one cell of an object column."""
    if value is None or value is pd.NA or (isinstance(value, float | np.floating) and math.isnan(value)):
        return "", "null"
    if isinstance(value, bool | np.bool_):
        return str(bool(value)), "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value)), str(int(value))
    if isinstance(value, float | np.floating):
        text = repr(float(value))
        return text, text if math.isfinite(value) else "null"
    if isinstance(value, str):
        return csv_field(value), json_string(value)
    return csv_field(str(value)), safe_json(
        json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
    )


def _object_texts(values: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """Name columns hold few distinct values: each is formatted once, then taken by its code. Columns
    of one type are factorised in C; mixed ones (where True == 1 would merge) by (type, value)."""
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "boolean", "integer", "floating", "empty"):
        codes, uniques = pd.factorize(values)
        texts = [_object_text(v) for v in uniques.tolist()]
    else:
        seen: dict[tuple[type, Any], int] = {}
        texts, code_list = [], []
        for value in values.tolist():
            try:
                key: Any = (value.__class__, value)
                hash(key)
            except TypeError:  # unhashable (a list or dict in a cell)
                key = (value.__class__, id(value))
            if key not in seen:
                seen[key] = len(texts)
                texts.append(_object_text(value))
            code_list.append(seen[key])
        codes = np.asarray(code_list, dtype=np.int64)
    texts.append(("", "null"))  # NA: code -1, the last entry
    index = pa.array(np.where(codes < 0, len(texts) - 1, codes))
    csv = pc.take(pa.array([t[0] for t in texts], type=pa.string()), index)
    js = pc.take(pa.array([t[1] for t in texts], type=pa.string()), index)
    return csv, js


def _float_texts(values: np.ndarray) -> tuple[pa.Array, pa.Array]:
    text = pc.cast(pa.array(values), pa.string())
    finite = np.isfinite(values)
    with np.errstate(invalid="ignore"):
        integral = finite & (np.floor(values) == values) & (np.abs(values) < 1e16)  # Arrow writes 1.0 as "1"
    if integral.any():  # "1" -> "1.0", but "1e+10" stays as it is
        plain = pc.and_(pa.array(integral), pc.invert(pc.match_substring(text, "e")))
        text = pc.if_else(plain, pc.binary_join_element_wise(text, ".0", ""), text)
    if finite.all():
        return text, text
    csv = pc.if_else(pa.array(np.isnan(values)), "", text)
    return csv, pc.if_else(pa.array(finite), text, "null")


def column_texts(column: pd.Series) -> tuple[pa.Array, pa.Array]:
    """Per cell of ``column``: its CSV field and its JSON value, as Arrow string arrays."""
    values = column.to_numpy()
    kind = values.dtype.kind
    if kind == "f":
        return _float_texts(values.astype(np.float64, copy=False))
    if kind in "iu":
        text = pc.cast(pa.array(values), pa.string())
        return text, text
    if kind == "b":
        flags = pa.array(values)
        return pc.if_else(flags, "True", "False"), pc.if_else(flags, "true", "false")
    return _object_texts(values.astype(object, copy=False))


def _joined(array: pa.Array) -> memoryview:
    """The concatenated texts of a string array (no separator), without a copy."""
    array = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
    if not len(array):
        return memoryview(b"")
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[array.offset : array.offset + len(array) + 1]
    return memoryview(array.buffers()[2])[int(offsets[0]) : int(offsets[-1])]


def _texts_into(frame: pd.DataFrame, csv_out: bytearray, json_out: bytearray) -> None:
    """Append the frame's CSV (header line, "\\n" line ends) to ``csv_out`` and its rows as a JSON
    array of objects to ``json_out``, UTF-8: each column formatted once for both, CHUNK_ROWS rows at a
    time, appended straight from Arrow's buffers (memory: the two documents and one chunk)."""
    csv_out += (",".join(csv_field(str(c)) for c in frame.columns) + "\n").encode("utf-8")
    if not len(frame) or not frame.shape[1]:
        json_out += b"[" + b",".join([b"{}"] * len(frame)) + b"]"
        return
    keys = [("{" if k == 0 else ",") + json_string(str(c)) + ":" for k, c in enumerate(frame.columns)]
    json_out += b"["
    for start in range(0, len(frame), CHUNK_ROWS):
        chunk = frame.iloc[start : start + CHUNK_ROWS]
        csv_parts: list[Any] = []
        json_parts: list[Any] = []
        for k in range(chunk.shape[1]):
            csv, js = column_texts(chunk.iloc[:, k])
            csv_parts.append(csv)
            json_parts += [keys[k], js]
        json_parts.append("},")
        rows = pc.binary_join_element_wise(*csv_parts, ",") if len(csv_parts) > 1 else csv_parts[0]
        csv_out += _joined(pc.binary_join_element_wise(rows, "", "\n"))
        objects = _joined(pc.binary_join_element_wise(*json_parts, ""))
        json_out += objects if start + CHUNK_ROWS < len(frame) else objects[:-1]  # no comma after the last
        del rows, csv_parts, json_parts, objects
    json_out += b"]"


def frame_texts(frame: pd.DataFrame) -> tuple[bytes, bytes]:
    """(the frame as CSV, its rows as a JSON array of objects), UTF-8."""
    csv, js = bytearray(), bytearray()
    _texts_into(frame, csv, js)
    return bytes(csv), bytes(js)


def table_documents(
    name: str, frame: pd.DataFrame, score_unit: str = "fraction (0..1)"
) -> tuple[bytearray, bytearray]:
    """The CSV download and the ``table_json`` document of ``frame``, built in place."""
    csv, js = bytearray(), bytearray(_json_head(name, frame, score_unit))
    _texts_into(frame, csv, js)
    js += b"}\n"
    return csv, js


def _json_head(name: str, frame: pd.DataFrame, score_unit: str) -> bytes:
    names = "[" + ", ".join(json_string(str(c)) for c in frame.columns) + "]"
    return (
        f'{{"table": {json_string(name)}, "score_unit": {json_string(score_unit)}, '
        f'"n_rows": {len(frame)}, "columns": {names},\n "rows": '
    ).encode()


def table_json(name: str, frame: pd.DataFrame, rows: bytes, score_unit: str = "fraction (0..1)") -> bytes:
    """``{"table", "score_unit", "n_rows", "columns", "rows"}`` around ``rows`` (``frame_texts``)."""
    return b"".join([_json_head(name, frame, score_unit), rows, b"}\n"])
