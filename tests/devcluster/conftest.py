"""Clients for the conformance tests: the official `kubernetes` client, built from the
kubeconfig the fixture generates (the product's real config loading path)."""

from __future__ import annotations

import pytest
from kubernetes import client, config


@pytest.fixture
def api_client(devcluster_kubeconfig):
    api = config.new_client_from_config(config_file=devcluster_kubeconfig)
    yield api
    api.close()


@pytest.fixture
def core(api_client):
    return client.CoreV1Api(api_client)


@pytest.fixture
def apps(api_client):
    return client.AppsV1Api(api_client)


@pytest.fixture
def batch(api_client):
    return client.BatchV1Api(api_client)


@pytest.fixture
def custom(api_client):
    return client.CustomObjectsApi(api_client)
