"""Fixtures shared by the integration tests."""

from tests.helpers.prometheus_server import prometheus_server  # noqa: F401  (a fixture)
