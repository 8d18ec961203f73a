"""Connection settings for Elasticsearch: URL, credentials, TLS; and the client built from them.

Secrets never come from command-line values (they would show in process listings): they are
read from an environment variable or a file. Their fields are excluded from repr(), and no
function here logs them.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path

ENV_USERNAME = "OOM_ENRICHER_ES_USERNAME"
ENV_PASSWORD = "OOM_ENRICHER_ES_PASSWORD"
ENV_API_KEY = "OOM_ENRICHER_ES_API_KEY"
ENV_BEARER = "OOM_ENRICHER_ES_BEARER_TOKEN"


@dataclass(frozen=True)
class EsConnection:
    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    bearer_token: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    fingerprint: str | None = None  # SHA-256 of the server certificate, hex
    verify_certs: bool = True
    request_timeout: float = 30.0

    @property
    def auth_kind(self) -> str:
        if self.api_key:
            return "api_key"
        if self.bearer_token:
            return "bearer"
        if self.username:
            return "basic"
        return "none"

    def client_kwargs(self) -> dict:
        kwargs: dict = {
            "request_timeout": self.request_timeout,
            # Connection errors surface quickly: the sink spools instead of waiting here.
            "max_retries": 1,
            "retry_on_timeout": True,
        }
        if self.api_key:
            kwargs["api_key"] = self.api_key
        elif self.bearer_token:
            kwargs["bearer_auth"] = self.bearer_token
        elif self.username:
            kwargs["basic_auth"] = (self.username, self.password or "")
        if self.ca_file:
            kwargs["ca_certs"] = self.ca_file
        if self.fingerprint:
            kwargs["ssl_assert_fingerprint"] = self.fingerprint.replace(":", "").lower()
        if not self.verify_certs:
            kwargs["verify_certs"] = False
        return kwargs

    def client(self):
        from elasticsearch import Elasticsearch

        return Elasticsearch(self.url, **self.client_kwargs())


def read_secret(env_name: str | None, file_path: str | None) -> str | None:
    """A secret from a file (first line, stripped) or else from an environment variable."""
    if file_path:
        text = Path(file_path).read_text(encoding="utf-8")
        lines = text.splitlines()
        return lines[0].strip() if lines else ""
    if env_name:
        value = os.environ.get(env_name)
        return value if value else None
    return None


def add_connection_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    group = parser.add_argument_group("Elasticsearch connection")
    group.add_argument(
        "--es", metavar="URL", required=required, help="Elasticsearch URL, e.g. https://es:9200"
    )
    group.add_argument("--es-username", default=os.environ.get(ENV_USERNAME), metavar="NAME")
    group.add_argument(
        "--es-password-file", metavar="PATH", help=f"password file (else ${ENV_PASSWORD})"
    )
    group.add_argument(
        "--es-api-key-file",
        metavar="PATH",
        help=f"encoded API key file (else ${ENV_API_KEY})",
    )
    group.add_argument(
        "--es-bearer-token-file", metavar="PATH", help=f"bearer token file (else ${ENV_BEARER})"
    )
    group.add_argument("--es-ca-file", metavar="PATH", help="CA bundle that signs the server")
    group.add_argument(
        "--es-fingerprint", metavar="SHA256", help="pin the server certificate by fingerprint"
    )
    group.add_argument(
        "--es-insecure", action="store_true", help="do not verify certificates (testing only)"
    )
    group.add_argument("--es-timeout", type=float, default=30.0, metavar="SECONDS")


def connection_from_args(args: argparse.Namespace) -> EsConnection:
    return EsConnection(
        url=args.es.rstrip("/"),
        username=args.es_username,
        password=read_secret(ENV_PASSWORD, args.es_password_file),
        api_key=read_secret(ENV_API_KEY, args.es_api_key_file),
        bearer_token=read_secret(ENV_BEARER, args.es_bearer_token_file),
        ca_file=args.es_ca_file,
        fingerprint=args.es_fingerprint,
        verify_certs=not args.es_insecure,
        request_timeout=args.es_timeout,
    )
