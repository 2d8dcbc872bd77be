"""`manage.py createuser NAME --role ROLE`: one user, one role, a one-time password."""

import re
from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from policies.roles import user_role


def create(*args):
    out = StringIO()
    call_command("createuser", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["admin", "oncall", "auditor"])
def test_creates_a_user_in_the_role_with_a_working_one_time_password(role):
    output = create("kim", "--role", role)
    password = re.search(r"One-time password: (\S+)", output).group(1)
    assert len(password) >= 16
    assert "should change it" in output
    user = authenticate(username="kim", password=password)
    assert user is not None
    assert user_role(user) == role


@pytest.mark.django_db
def test_each_run_makes_a_different_password():
    first = re.search(r"password: (\S+)", create("a1", "--role", "admin")).group(1)
    second = re.search(r"password: (\S+)", create("a2", "--role", "admin")).group(1)
    assert first != second


@pytest.mark.django_db
def test_unknown_role_exits_2_with_the_choices():
    with pytest.raises(CommandError) as error:
        create("kim", "--role", "root")
    assert error.value.returncode == 2
    assert "Unknown role" in str(error.value) and "admin, oncall, auditor" in str(error.value)
    assert not get_user_model().objects.filter(username="kim").exists()


@pytest.mark.django_db
def test_existing_user_exits_2_and_is_left_alone():
    create("kim", "--role", "auditor")
    with pytest.raises(CommandError) as error:
        create("kim", "--role", "admin")
    assert error.value.returncode == 2
    assert "already exists" in str(error.value)
    assert user_role(get_user_model().objects.get(username="kim")) == "auditor"


@pytest.mark.django_db
def test_invalid_username_exits_2():
    with pytest.raises(CommandError) as error:
        create("kim smith!", "--role", "admin")
    assert error.value.returncode == 2


@pytest.mark.django_db
def test_group_puts_the_user_in_a_team_group_for_its_on_call_scope():
    output = create("pia", "--role", "oncall", "--group", "payments-oncall")
    assert 'Created "pia" with the role oncall in payments-oncall.' in output
    user = get_user_model().objects.get(username="pia")
    assert set(user.groups.values_list("name", flat=True)) == {"oncall", "payments-oncall"}
    assert user_role(user) == "oncall"


@pytest.mark.django_db
def test_a_role_name_as_group_exits_2_and_creates_no_one():
    with pytest.raises(CommandError) as error:
        create("pia", "--role", "oncall", "--group", "admin")
    assert error.value.returncode == 2
    assert not get_user_model().objects.filter(username="pia").exists()
