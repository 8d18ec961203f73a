"""`oom.explanation` says what happened and why, in two to five sentences."""

from __future__ import annotations

import re

import pytest

from oom_enricher.pipeline import iter_documents
from tests.corpus_cases import REPO, corpus_cases

CORPUS = REPO / "tests" / "corpus"


def explanation(name: str, index: int = 0) -> str:
    docs = list(iter_documents([str(next(CORPUS.glob(name + "*.log")))]))
    return docs[index]["oom"]["explanation"]


@pytest.mark.parametrize("case", corpus_cases(), ids=lambda case: case.name)
def test_two_to_five_sentences(case):
    for doc in iter_documents([str(case.log)]):
        sentences = re.findall(r"[^.!?]+(?:[.!?](?=\s|$))", doc["oom"]["explanation"])
        assert 1 <= len(sentences) <= 5, doc["oom"]["explanation"]


def test_seed_sacrificed_child_of_a_thread():
    text = explanation("seed-docker-beam")
    assert "memory+swap limit of cgroup /docker/a4d47fb7bbc8… (512 MiB) was reached" in text
    assert "chose beam.smp (pid 20911, a thread of process 20879" in text
    assert "badness score 1001" in text
    assert "killed that process's child sh (pid 20977) instead" in text
    assert "vm.oom_kill_allocating_task=1 changes this" in text


def test_global_oom_names_the_starved_zone_and_swap():
    text = explanation("018-")
    assert "(4 GiB of RAM, 0 B of 4 GiB swap left)" in text
    assert "zone Normal had 15.2 MiB free, below its 15.5 MiB minimum watermark" in text


def test_lowered_memory_max():
    assert "tee (pid 492129) wrote memory.max" in explanation("010-")


def test_group_kill_and_pod():
    text = explanation("016-")
    assert text.startswith("The kernel OOM killer killed 10 processes in Kubernetes pod f9411888")
    assert "memory.oom.group" in text


def test_incomplete_report_says_so():
    assert "Part of the report is missing (kill line ratelimited)" in explanation("025-")
