import pytest

from tests.factories import user_with_role

ROLES = ("admin", "oncall", "auditor")


@pytest.fixture
def client_for(client, db):
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


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # PBKDF2 is slow by design; these tests are about pages, not password storage.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
