"""Kibana saved objects (data view, saved searches, Lens dashboards) generated from one spec."""
