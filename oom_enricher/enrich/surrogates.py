"""Where a document is built, bytes that were not UTF-8 become U+FFFD.

Sources keep undecodable bytes as lone surrogates (`surrogateescape`), so that lines survive
byte for byte until here; JSON has no way to carry them, so documents get the replacement
character instead, and the number of characters replaced is counted. A number no 64-bit
field holds (a corrupted watermark in kB, made bytes) is no fact: it becomes null, as
Elasticsearch's `long` and orjson could not take it.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> tuple[str, int]:
    """`text` with undecodable bytes replaced, and how many replacement characters that made."""
    if _SURROGATE.search(text) is None:
        return text, 0
    try:
        cleaned = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # surrogates that no byte produced (e.g. JSON "\ud800")
        cleaned = _SURROGATE.sub("\ufffd", text)
    return cleaned, cleaned.count("\ufffd") - text.count("\ufffd")


def clean_document(doc: Any) -> int:
    """Replace undecodable bytes in every string of a document, in place; returns the count."""
    try:
        # orjson refuses any lone surrogate: one pass in C clears almost every document,
        # and only a document it refuses is walked string by string.
        orjson.dumps(doc)
    except orjson.JSONEncodeError:
        return _clean_node(doc)
    return 0


_LONG = range(-(1 << 63), 1 << 63)


def _clean_node(node: Any) -> int:
    replaced = 0
    if isinstance(node, dict):
        items: Any = list(node.items())
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return 0
    for key, value in items:
        if isinstance(value, str):
            node[key], n = clean_text(value)
            replaced += n
        elif type(value) is int and value not in _LONG:
            node[key] = None
        else:
            replaced += _clean_node(value)
    return replaced
