import pytest

from tests.factories import user_with_role

ROLES = ("admin", "oncall", "auditor")


@pytest.fixture
def client_for(client):
    """A test client logged in as a new user with `role` (None: logged in, no role)."""

    def login(role):
        client.force_login(user_with_role(role, username=f"{role or 'norole'}-ui"))
        return client

    return login


@pytest.fixture
def auditor_client(client_for):
    return client_for("auditor")


@pytest.fixture
def admin_client_(client_for):
    return client_for("admin")
