"""The corpus as a fleet: each report file is one host's stream, all interleaved round-robin."""

from __future__ import annotations

from pathlib import Path

from oom_enricher.pipeline import documents_from_lines

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
BASE_TIME = 1_790_000_000


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.glob("*.log") if p.with_suffix(".json").exists())


def fleet_events(tag: str = "kern.oom") -> list[dict]:
    """[{tag, time: [sec, nsec], record: {host, log}}] in interleaved order, 1 ms apart."""
    streams = []
    for i, path in enumerate(corpus_files()):
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        streams.append(
            [
                {
                    "tag": tag,
                    "time": [BASE_TIME + n // 1000, (n % 1000) * 1_000_000],
                    "record": {"host": f"node-{i:02d}", "log": line},
                }
                for n, line in enumerate(lines)
            ]
        )
    merged: list[dict] = []
    while any(streams):
        for stream in streams:
            if stream:
                merged.append(stream.pop(0))
    return merged


def expected_documents() -> list[dict]:
    """Each file parsed on its own, the way `oom-enricher parse` reads it."""
    docs: list[dict] = []
    for path in corpus_files():
        docs.extend(
            documents_from_lines(path.read_text(encoding="utf-8", errors="replace").splitlines())
        )
    return docs


def projection(docs: list[dict]) -> list[tuple]:
    """The facts any transport must preserve, as a sorted multiset."""
    rows = []
    for d in docs:
        oom = d["oom"]
        rows.append(
            (
                oom["trigger"]["name"],
                tuple((v.get("pid"), v.get("name")) for v in oom.get("victims") or []),
                oom["complete"],
                oom.get("incomplete_reason"),
                oom.get("lines_count"),
                oom.get("scope"),
                oom.get("limit_hit"),
                oom.get("tasks_count"),
            )
        )
    return sorted(rows, key=repr)


# Shipped records always carry a time, so a bare "..." copy-paste line in a published
# report is a line like any other there, while the file reader flags it as elided text.
KNOWN_TRANSPORT_DIFFERENCES = {"elided"}


# Across a restart: the assembler's look-back buffer (recent lines kept to recover the head
# of a report whose start marker is missing) is not part of Pipeline.snapshot(), so such a
# report recovers fewer lines when the restart falls inside it.
ACROSS_RESTART = frozenset({"missing_start"})


def comparable(
    got: list[tuple], want: list[tuple], known: frozenset[str] = frozenset()
) -> tuple[list[tuple], list[tuple]]:
    """Both projections with the differences named above blanked out."""
    keys = {row[:2] for row in want if row[3] in KNOWN_TRANSPORT_DIFFERENCES}
    lines_keys = {row[:2] for row in want if row[3] in known}

    def blank(rows: list[tuple]) -> list[tuple]:
        out = []
        for r in rows:
            if r[:2] in keys:
                r = (*r[:2], None, None, *r[4:])
            if r[:2] in lines_keys:  # what the lost head lines would have told
                r = (*r[:4], None, r[5], None, None)
            out.append(r)
        return sorted(out, key=repr)

    return blank(got), blank(want)


class ListSink:
    """A sink that keeps what it is given and always accepts."""

    name = "list"

    def __init__(self) -> None:
        self.docs: list[dict] = []

    def send(self, doc: dict) -> None:
        self.docs.append(doc)

    def flush(self, timeout=None) -> bool:
        return True

    def close(self) -> None:
        pass
