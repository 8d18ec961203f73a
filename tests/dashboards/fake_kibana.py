"""A tiny local HTTP server that answers POST /api/saved_objects/_import like Kibana 8 does.

Kibana itself is not available in this test environment (no package in the reachable
registries), so the import client is tested against this recorder: it keeps every request
(path, query, headers, body) and replies with Kibana's documented response shapes, including
the 400 for a missing kbn-xsrf header and 200-with-errors for partial failures.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes

    def form_file(self) -> tuple[str, str, bytes]:
        """(field name, filename, content) of the single multipart part."""
        raw = b"Content-Type: " + self.headers["content-type"].encode() + b"\r\n\r\n" + self.body
        message = BytesParser(policy=HTTP).parsebytes(raw)
        (part,) = list(message.iter_parts())
        params = dict(part.get_params(header="content-disposition")[1:])
        return params["name"], part.get_filename(), part.get_payload(decode=True)


@dataclass
class FakeKibana:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    missing: set[str] = field(default_factory=set)  # object ids to answer missing_references for
    credentials: str | None = None  # expected Authorization header value


def _answer(kibana: FakeKibana, req: Recorded) -> tuple[int, dict]:
    if "kbn-xsrf" not in req.headers:
        return 400, {
            "statusCode": 400,
            "error": "Bad Request",
            "message": "Request must contain a kbn-xsrf header.",
        }
    if kibana.credentials and req.headers.get("authorization") != kibana.credentials:
        return 401, {
            "statusCode": 401,
            "error": "Unauthorized",
            "message": "[security_exception]: missing authentication credentials",
        }
    name, filename, content = req.form_file()
    if name != "file" or not filename.endswith(".ndjson"):
        return 415, {
            "statusCode": 415,
            "error": "Unsupported Media Type",
            "message": "Invalid file extension",
        }
    objects = [json.loads(line) for line in content.decode().splitlines() if line.strip()]
    overwrite = req.query.get("overwrite") == ["true"]
    successes, errors = [], []
    for obj in objects:
        if "exportedCount" in obj:
            continue  # the export summary line
        meta = {"title": obj["attributes"].get("title"), "icon": obj["type"]}
        if obj["id"] in kibana.missing:
            errors.append(
                {
                    "id": obj["id"],
                    "type": obj["type"],
                    "title": meta["title"],
                    "meta": meta,
                    "error": {
                        "type": "missing_references",
                        "references": [{"type": "index-pattern", "id": "gone"}],
                    },
                }
            )
        else:
            result = {"type": obj["type"], "id": obj["id"], "meta": meta}
            if overwrite:
                result["overwrite"] = True
            successes.append(result)
    return 200, {
        "success": not errors,
        "successCount": len(successes),
        "successResults": successes,
        "warnings": [],
        "errors": errors,
    }


def start(kibana: FakeKibana) -> tuple[ThreadingHTTPServer, threading.Thread]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server naming)
            split = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            req = Recorded(
                "POST",
                split.path,
                parse_qs(split.query),
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
            kibana.requests.append(req)
            if not split.path.endswith("/api/saved_objects/_import"):
                status, answer = (
                    404,
                    {"statusCode": 404, "error": "Not Found", "message": "Not Found"},
                )
            else:
                status, answer = _answer(kibana, req)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json; charset=utf-8")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    kibana.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread
