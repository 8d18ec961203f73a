"""The documentation works when followed literally."""

from __future__ import annotations

import ast
import builtins
import re

from oom_enricher.serve.app import build_sinks
from oom_enricher.serve.config import ServeConfig
from tests.corpus_cases import REPO


def test_deploy_guide_builds_the_wheel_instead_of_an_unpublished_package():
    text = (REPO / "deploy" / "README.md").read_text(encoding="utf-8")
    assert not re.search(r"pip install oom-enricher\b", text)
    assert "python3 -m pip wheel --no-deps -w dist ." in text
    assert "pip install dist/oom_enricher-*.whl" in text


def test_deploy_guide_documents_both_password_settings_and_the_default_spool():
    text = (REPO / "deploy" / "README.md").read_text(encoding="utf-8")
    assert 'password_file = "/run/secrets/es-password"' in text
    assert 'password_env = "OOM_ENRICHER_ES_PASSWORD"' in text
    assert "~/.local/state/oom-enricher/spool-default" in text
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "~/.local/state/oom-enricher/spool-default" in readme


def test_the_sink_readme_snippet_names_only_what_it_imports():
    text = (REPO / "oom_enricher" / "sinks" / "elasticsearch" / "README.md").read_text()
    code = text[text.index("```python\n") + 10 : text.index("```", text.index("```python") + 9)]
    tree = ast.parse(code)
    defined = set(dir(builtins)) | {"doc"}  # the document to send is the reader's
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom | ast.Import):
            defined |= {alias.asname or alias.name for alias in node.names}
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    assert used <= defined, used - defined
    exec(compile("\n".join(line for line in code.splitlines() if "import" in line), "s", "exec"))


def test_serve_without_state_dir_keeps_its_spool_out_of_the_working_directory(
    tmp_path, monkeypatch
):
    work, state = tmp_path / "cwd", tmp_path / "state"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    config = ServeConfig(sinks={"elasticsearch": {"url": "http://127.0.0.1:1"}})
    (sink,) = build_sinks(config)
    try:
        assert sink.config.spool_dir == state / "oom-enricher" / "es-spool"
        assert sink.config.spool_dir.is_dir()
    finally:
        sink.close(drain_timeout=0)
    assert list(work.iterdir()) == []
