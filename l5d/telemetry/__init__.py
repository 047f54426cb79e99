"""Telemetry: stats registry and exporters."""
