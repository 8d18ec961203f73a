"""`oom-enricher enrich --es URL`: fill Kubernetes names into OOM documents already indexed."""

from __future__ import annotations

import argparse
import json
import sys

from oom_enricher.sinks.elasticsearch import names
from oom_enricher.sinks.elasticsearch.auth import add_connection_arguments, connection_from_args
from oom_enricher.sinks.elasticsearch.k8s_lookup import DEFAULT_LOGS_INDEX


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "enrich",
        help="fill Kubernetes namespace, pod, container and workload names into indexed kills",
        description="Looks the pod uid and container id of every OOM document that has no "
        "Kubernetes names yet up in the container-log indices the fleet's shippers already "
        "write (Fluent Bit kubernetes filter, Filebeat / Elastic Agent, Fluentd "
        "kubernetes_metadata; detected per record) and updates the documents in place.",
    )
    add_connection_arguments(parser)
    parser.add_argument("--namespace", default=names.DEFAULT_NAMESPACE)
    parser.add_argument(
        "--logs-index",
        default=DEFAULT_LOGS_INDEX,
        help=f"container-log indices to look names up in (default {DEFAULT_LOGS_INDEX})",
    )
    parser.add_argument("--since", help="only documents created since, e.g. now-7d")
    parser.add_argument("--batch", type=int, default=500, help="documents per lookup (500)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from elasticsearch import ApiError, TransportError

    if args.batch < 1:
        print("oom-enricher enrich: --batch must be at least 1", file=sys.stderr)
        return 2
    client = connection_from_args(args).client()
    try:
        stats = enrich_pass(client, names.data_stream_name(args.namespace), args)
    except (ApiError, TransportError) as exc:
        print(f"oom-enricher enrich: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    print(json.dumps(stats), file=sys.stderr)
    return 0


def enrich_pass(client, data_stream: str, args: argparse.Namespace) -> dict:
    from oom_enricher.sinks.elasticsearch.k8s_enricher import KubernetesEnricher
    from oom_enricher.sinks.elasticsearch.k8s_lookup import EsPodLookup

    lookup = EsPodLookup(client, args.logs_index)
    enricher = KubernetesEnricher(
        client, data_stream, lookup, batch=args.batch, retry_not_found=True
    )
    stats = enricher.run_once(since=getattr(args, "since", None)).as_dict()
    stats["lookup_requests"] = lookup.stats.requests
    stats["failed_lookups"] = lookup.stats.failed_requests
    return stats
