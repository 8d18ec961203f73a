"""Command-line options and client construction for talking to Elasticsearch and Kibana.

Credentials come from flags or, so they stay out of process listings, from environment
variables: OOM_ENRICHER_ES_USERNAME / _PASSWORD / _API_KEY / _CA_CERTS.
"""

from __future__ import annotations

import argparse
import base64
import os


def add_auth_arguments(parser: argparse.ArgumentParser) -> None:
    env = os.environ.get
    parser.add_argument("--username", default=env("OOM_ENRICHER_ES_USERNAME"))
    parser.add_argument("--password", default=env("OOM_ENRICHER_ES_PASSWORD"))
    parser.add_argument(
        "--api-key", default=env("OOM_ENRICHER_ES_API_KEY"), help="encoded API key (id:key base64)"
    )
    parser.add_argument(
        "--ca-certs", default=env("OOM_ENRICHER_ES_CA_CERTS"), help="CA bundle for https"
    )
    parser.add_argument(
        "--insecure", action="store_true", help="do not verify TLS certificates (testing only)"
    )


def es_client(url: str, args: argparse.Namespace):
    from elasticsearch import Elasticsearch

    kwargs: dict = {"request_timeout": 30}
    if args.api_key:
        kwargs["api_key"] = args.api_key
    elif args.username:
        kwargs["basic_auth"] = (args.username, args.password or "")
    if args.ca_certs:
        kwargs["ca_certs"] = args.ca_certs
    if args.insecure:
        kwargs["verify_certs"] = False
    return Elasticsearch(url, **kwargs)


def authorization_header(args: argparse.Namespace) -> dict[str, str]:
    """The same credentials as an HTTP header, for plain HTTP clients (Kibana)."""
    if args.api_key:
        return {"Authorization": f"ApiKey {args.api_key}"}
    if args.username:
        token = base64.b64encode(f"{args.username}:{args.password or ''}".encode()).decode()
        return {"Authorization": f"Basic {token}"}
    return {}
