"""Shared pytest setup for every test package."""

pytest_plugins = ["es_node"]
