"""No page shows template source. Django's `{# #}` comment ends on the line it starts on; one
that runs over two lines is not a comment but text, printed on the page as it stands."""

from pathlib import Path

import pytest
from django.template.base import Lexer, TokenType

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@pytest.mark.parametrize(
    "template", sorted(TEMPLATES.rglob("*.html")), ids=lambda path: str(path.relative_to(TEMPLATES))
)
def test_every_comment_is_one_that_django_reads_as_a_comment(template):
    tokens = Lexer(template.read_text(encoding="utf-8")).tokenize()
    shown = [token.contents for token in tokens if token.token_type is TokenType.TEXT]
    assert not [text for text in shown if "{#" in text or "#}" in text]
