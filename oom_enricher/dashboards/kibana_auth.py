"""Kibana credentials, taken like Elasticsearch's (oom_enricher.sinks.elasticsearch.auth):
a user name from a flag, secrets from a file or the OOM_ENRICHER_ES_* environment variables,
never from command-line values.
"""

from __future__ import annotations

import argparse
import base64
import os
import ssl

from oom_enricher.sinks.elasticsearch.auth import (
    ENV_API_KEY,
    ENV_BEARER,
    ENV_PASSWORD,
    ENV_USERNAME,
    read_secret,
)


def add_kibana_auth_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Kibana credentials (as for Elasticsearch)")
    group.add_argument("--username", default=os.environ.get(ENV_USERNAME), metavar="NAME")
    group.add_argument("--password-file", metavar="PATH", help=f"else ${ENV_PASSWORD}")
    group.add_argument(
        "--api-key-file", metavar="PATH", help=f"encoded API key, else ${ENV_API_KEY}"
    )
    group.add_argument("--bearer-token-file", metavar="PATH", help=f"else ${ENV_BEARER}")
    group.add_argument(
        "--ca-file", metavar="PATH", help="CA bundle that signs Kibana's certificate"
    )
    group.add_argument("--insecure", action="store_true", help="do not verify certificates")


def authorization_header(args: argparse.Namespace) -> dict[str, str]:
    api_key = read_secret(ENV_API_KEY, args.api_key_file)
    if api_key:
        return {"Authorization": f"ApiKey {api_key}"}
    bearer = read_secret(ENV_BEARER, args.bearer_token_file)
    if bearer:
        return {"Authorization": f"Bearer {bearer}"}
    if args.username:
        password = read_secret(ENV_PASSWORD, args.password_file) or ""
        token = base64.b64encode(f"{args.username}:{password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}
    return {}


def ssl_context(url: str, args: argparse.Namespace) -> ssl.SSLContext | None:
    if not url.startswith("https:"):
        return None
    context = ssl.create_default_context(cafile=args.ca_file)
    if args.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
