"""Elasticsearch tests: the `es_url` fixture comes from tests/es_node.py (see tests/conftest.py)."""
