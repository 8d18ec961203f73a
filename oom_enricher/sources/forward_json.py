"""The text of JSON requests on a forward connection (Fluentd's in_forward takes them too):
decoded across reads, counted before it is parsed, and parsed only when it may be whole."""

from __future__ import annotations

import codecs

from oom_enricher.sources.forward_codec import FrameError

# JSON text shorter than this decodes into at most ~1.5 MB of objects: not counted.
JSON_COUNTED_FROM = 64 << 10
_CLOSERS = ("]", "}")


def within_budget(text: str, max_objects: int) -> None:
    """Refuses JSON that may decode into more than `max_objects` elements and containers.

    The stdlib decoder has no hook for arrays, so they are counted before decoding, from
    the characters that open a container or separate elements (one per element or
    container, a comma inside a string too): real records stay far below the budget."""
    if len(text) <= JSON_COUNTED_FROM:
        return
    if text.count(",") + text.count("[") + text.count("{") > max_objects:
        raise FrameError(
            "too_many_objects", f"JSON request may decode into more than {max_objects} objects"
        )


class JsonText:
    """What a connection sent that no decode has taken yet."""

    def __init__(self) -> None:
        # a character whose bytes are split between two reads is decoded whole
        self._utf8 = codecs.getincrementaldecoder("utf-8")("replace")
        self._text = ""  # what the last decode left: the start of an incomplete request
        self._pieces: list[str] = []  # received since
        self.size = 0  # characters held, both together
        self._tried = 0  # the size when a decode last found the text incomplete
        self._closes = False  # the newest character that is not blank closes a container

    def feed(self, data: bytes, final: bool = False) -> None:
        piece = self._utf8.decode(data, final)
        if not piece:
            return
        self._pieces.append(piece)
        self.size += len(piece)
        tail = piece.rstrip()
        if tail:
            self._closes = tail[-1] in _CLOSERS

    def worth_decoding(self) -> bool:
        """Whether the text may now hold a whole request: its newest character that is not
        blank closes one (a client stops there to wait for the ack), or it has doubled since
        a decode last found it incomplete (decoding on every read would cost the square of
        a large request's size)."""
        return bool(self._pieces) and (self._closes or self.size >= 2 * self._tried)

    def take(self) -> str:
        if self._pieces:
            self._text += "".join(self._pieces)
            self._pieces = []
        return self._text

    def keep(self, rest: str) -> None:
        """After a decode of `take()`: `rest` is the incomplete request it left."""
        self._text = rest
        self.size = self._tried = len(rest)

    def holds_text(self) -> bool:
        return bool(self.take().strip())
