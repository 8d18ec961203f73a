"""Shared pytest setup for every test package."""

pytest_plugins = ["tests.es_node", "tests.kafka_node", "tests.peers.fixtures"]
