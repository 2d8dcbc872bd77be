"""`manage.py oncall_scope add|list|remove`: which namespaces a group's on-call may switch."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from policies.models import OnCallScope


def run(*args) -> str:
    out = StringIO()
    call_command("oncall_scope", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_add_stores_patterns_labels_and_system_flag_and_list_shows_them():
    output = run(
        "add",
        "--group",
        "payments-oncall",
        "--namespaces",
        "payments-*",
        "--namespaces",
        "ledger",
        "--labels",
        "team=payments,tier=backend",
    )
    scope = OnCallScope.objects.get()
    assert (scope.group, scope.namespace_patterns, scope.namespace_labels) == (
        "payments-oncall",
        ["payments-*", "ledger"],
        {"team": "payments", "tier": "backend"},
    )
    assert scope.include_system is False
    assert f"Added on-call scope #{scope.pk} for group payments-oncall" in output
    listing = run("list")
    assert "payments-oncall" in listing
    assert "payments-*, ledger, team=payments, tier=backend" in listing


@pytest.mark.django_db
def test_add_with_include_system_says_so_in_the_list():
    run("add", "--group", "platform", "--namespaces", "kube-*", "--include-system")
    assert OnCallScope.objects.get().include_system is True
    assert "with system namespaces" in run("list")


@pytest.mark.django_db
def test_list_without_scopes_says_on_call_is_global_but_for_system_namespaces():
    output = run("list")
    assert "No on-call scopes" in output
    assert "every namespace except the system ones" in output


@pytest.mark.django_db
def test_remove_by_id_and_by_group():
    first = run("add", "--group", "a", "--namespaces", "a-*")
    run("add", "--group", "b", "--namespaces", "b-*")
    run("add", "--group", "b", "--labels", "team=b")
    scope_id = OnCallScope.objects.get(group="a").pk
    assert f"#{scope_id}" in first
    assert "Removed 1 on-call scope" in run("remove", "--id", str(scope_id))
    assert "Removed 2 on-call scopes" in run("remove", "--group", "b")
    assert not OnCallScope.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["add", "--group", "g"], "at least one --namespaces pattern or --labels"),
        (["add", "--group", "g", "--labels", "team"], 'takes key=value pairs, not "team"'),
        (["add", "--group", "g", "--namespaces", "Shop_*"], "not a namespace name pattern"),
        (["add", "--group", " ", "--namespaces", "a"], "group"),
        (["remove"], "--id or --group"),
        (["remove", "--id", "999"], "No on-call scope"),
    ],
)
def test_bad_input_exits_2_and_changes_nothing(args, words):
    with pytest.raises(CommandError) as error:
        run(*args)
    assert error.value.returncode == 2
    assert words in str(error.value)
    assert not OnCallScope.objects.exists()
