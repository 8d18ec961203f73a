"""Elasticsearch side: templates and pipeline (setup), the bulk sink, spool and dead letters."""

from oom_enricher.sinks.elasticsearch.auth import EsConnection
from oom_enricher.sinks.elasticsearch.bulk_sink import ElasticsearchSink, SinkConfig, SinkStats

__all__ = ["ElasticsearchSink", "EsConnection", "SinkConfig", "SinkStats"]
