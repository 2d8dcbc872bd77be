"""The toggle's "Who manages this policy" banner, before the form and on the preview, shows
as words: none of its template's source (a comment that ran over two lines once did)."""

import re

from policies.services.sync import cluster_sync
from tests.changes.test_audit_change_groups import STRICT, TOGGLE, preview_twice_then_confirm


def test_the_toggle_says_who_manages_the_policy_without_template_source(client, mesh, users):
    client.force_login(users["oncall"])
    preview_twice_then_confirm(client)
    cluster_sync(trigger="test")  # the form reads who manages the policy from the snapshot
    for page in (client.get(TOGGLE), client.post(TOGGLE, {**STRICT, "mode": "PERMISSIVE"})):
        html = page.content.decode()
        assert "Who manages this policy" in html
        assert "{#" not in html and "#}" not in html
        assert re.search(r"meshui</span>, last changed \d{4}-\d\d-\d\d\.", html)
