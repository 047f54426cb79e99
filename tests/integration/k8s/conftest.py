"""Fixtures for tests against a real kube-apiserver v1.20.2 + etcd on loopback.

* ``k8s_api``: one :class:`~tests.helpers.k8s_api.ApiServer` for the session (watch cache
  on, compaction every 5 min), built by ``tests/k8s/build-apiserver.sh`` if not cached.
* ``k8s_api_compacting``: a second one for "resource version too old" (410) tests: no watch
  cache and etcd compaction every 5 s.
* ``k8s_namespace``: a fresh namespace in ``k8s_api`` for each test. Namespaces are never
  deleted (without a controller-manager they would stay ``Terminating`` forever); each
  server's etcd is wiped when the session ends.

Every test under this directory is marked ``k8s_real``.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.helpers.k8s_api import ApiServer


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``k8s_real`` marker (the suite runs with ``--strict-markers``).

    :param config: the pytest config.
    """
    config.addinivalue_line("markers", "k8s_real: runs against a real kube-apiserver + etcd")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test collected from this directory ``k8s_real``.

    :param config: the pytest config.
    :param items: the collected tests.
    """
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.k8s_real)


def unique_name(prefix: str = "t") -> str:
    """:return: a fresh DNS-1123 label such as ``t-1a2b3c4d5e``."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def k8s_api(tmp_path_factory: pytest.TempPathFactory):
    """A real kube-apiserver (watch cache on) for the whole session.

    :param tmp_path_factory: pytest's temp dir factory.
    """
    with ApiServer(tmp_path_factory.mktemp("k8s-api")) as api:
        yield api


@pytest.fixture(scope="session")
def k8s_api_compacting(tmp_path_factory: pytest.TempPathFactory):
    """A second kube-apiserver with no watch cache and 5 s etcd compaction (410 tests).

    :param tmp_path_factory: pytest's temp dir factory.
    """
    with ApiServer(tmp_path_factory.mktemp("k8s-api-compacting"), watch_cache=False,
                   compaction="5s") as api:
        yield api


@pytest.fixture
def k8s_namespace(k8s_api: ApiServer) -> str:
    """A new, empty namespace in ``k8s_api`` (never deleted).

    :param k8s_api: the session's server.
    :return: the namespace's name.
    """
    name = unique_name()
    k8s_api.create_namespace(name)
    return name
