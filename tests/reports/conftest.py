"""Users in each role for the reports tests."""

import pytest
from django.contrib.auth.models import Group, User


def user_with_role(username: str, role: str | None) -> User:
    user = User.objects.create_user(username=username, password="not-a-real-password-1")
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def admin_user(db):
    return user_with_role("ada", "admin")


@pytest.fixture
def oncall_user(db):
    return user_with_role("otto", "oncall")


@pytest.fixture
def auditor_user(db):
    return user_with_role("audrey", "auditor")


@pytest.fixture
def roleless_user(db):
    return user_with_role("nobody", None)


@pytest.fixture
def client_as(client):
    """`client_as(user)`: the test client logged in as that user."""

    def login(user):
        client.force_login(user)
        return client

    return login
