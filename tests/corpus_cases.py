"""The real-report corpus: every NAME.log with a NAME.json is one case.

Cases come from tests/corpus (the repo's copy) and from ../shared/corpus when it exists,
so a pair added there becomes a test before the copy is refreshed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS_DIRS = (REPO / "tests" / "corpus", REPO.parent / "shared" / "corpus")


@dataclass(frozen=True)
class CorpusCase:
    name: str
    log: Path
    facts: dict


def corpus_cases() -> list[CorpusCase]:
    found: dict[str, CorpusCase] = {}
    for folder in CORPUS_DIRS:
        if not folder.is_dir():
            continue
        for log in sorted(folder.glob("*.log")):
            facts_file = log.with_suffix(".json")
            if log.stem not in found and facts_file.is_file():
                facts = json.loads(facts_file.read_text(encoding="utf-8"))
                found[log.stem] = CorpusCase(log.stem, log, facts)
    return [found[name] for name in sorted(found)]
