"""Upload saved objects with Kibana's import API (POST /api/saved_objects/_import).

Kibana answers HTTP 200 even when some objects fail; the per-object errors are in the body,
so callers must read `success` and `errors`, not only the status.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(slots=True)
class ImportResult:
    success: bool
    success_count: int
    errors: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    status: int = 200
    message: str = ""  # set when Kibana refused the whole request

    def error_lines(self) -> list[str]:
        lines = [f"HTTP {self.status}: {self.message}"] if self.message else []
        for err in self.errors:
            detail = err.get("error", {})
            title = err.get("title") or err.get("meta", {}).get("title") or ""
            line = f"{err.get('type')} {err.get('id')} {title!r}: {detail.get('type')}"
            missing = detail.get("references") or []
            if missing:
                line += " (" + ", ".join(f"{r.get('type')} {r.get('id')}" for r in missing) + ")"
            lines.append(line)
        return lines


def multipart_body(filename: str, payload: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with one field, `file`; returns (body, content type)."""
    boundary = f"oom-enricher-{uuid.uuid4().hex}"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/ndjson\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head + payload + tail, f"multipart/form-data; boundary={boundary}"


def import_url(kibana: str, space: str | None, overwrite: bool) -> str:
    base = kibana.rstrip("/")
    if space and space != "default":
        base += f"/s/{urllib.parse.quote(space, safe='')}"
    query = urllib.parse.urlencode({"overwrite": "true"}) if overwrite else ""
    return f"{base}/api/saved_objects/_import" + (f"?{query}" if query else "")


def import_ndjson(kibana: str, path: Path, **options) -> ImportResult:
    # Kibana infers the format from the extension: keep the name ending in .ndjson.
    filename = path.name if path.name.endswith(".ndjson") else f"{path.stem}.ndjson"
    return import_payload(kibana, filename, path.read_bytes(), **options)


def import_payload(
    kibana: str,
    filename: str,
    payload: bytes,
    *,
    overwrite: bool = False,
    space: str | None = None,
    headers: dict[str, str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = 60.0,
) -> ImportResult:
    body, content_type = multipart_body(filename, payload)
    request = urllib.request.Request(
        import_url(kibana, space, overwrite),
        data=body,
        method="POST",
        headers={"kbn-xsrf": "oom-enricher", "Content-Type": content_type, **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=ssl_context) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return ImportResult(False, 0, status=exc.code, message=_message(raw) or str(exc.reason))
    answer = json.loads(raw or b"{}")
    return ImportResult(
        success=bool(answer.get("success")),
        success_count=int(answer.get("successCount", 0)),
        errors=list(answer.get("errors", [])),
        warnings=list(answer.get("warnings", [])),
        status=status,
    )


def _message(raw: bytes) -> str:
    try:
        answer = json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")[:500]
    return str(answer.get("message") or answer.get("error") or answer)
