"""Every field a document carries is in the document contract (and so in the mappings)."""

from __future__ import annotations

import pytest

from oom_enricher.schema.document_fields import FIELDS, OBJECT_ARRAYS
from oom_enricher.skimming.skim_files import skim_documents
from tests.corpus_cases import corpus_cases


def leaf_paths(value, prefix: str = ""):
    if isinstance(value, dict):
        if prefix and FIELDS.get(prefix) == "flattened":
            yield prefix
            return
        for key, item in value.items():
            yield from leaf_paths(item, f"{prefix}.{key}" if prefix else key)
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        members = OBJECT_ARRAYS.get(prefix)
        assert members is not None, f"{prefix} is an object array missing from OBJECT_ARRAYS"
        for item in value:
            for key in item:
                assert key in members, f"{prefix}[].{key} missing from OBJECT_ARRAYS"
        yield prefix
    elif value is None and any(name.startswith(prefix + ".") for name in FIELDS):
        return  # a whole object the report does not have (e.g. no kmem counter)
    else:
        yield prefix


@pytest.mark.parametrize("case", corpus_cases(), ids=lambda case: case.name)
def test_document_fields_are_all_in_the_contract(case):
    for doc in skim_documents([str(case.log)]):
        missing = {path for path in leaf_paths(doc) if path not in FIELDS}
        assert not missing
