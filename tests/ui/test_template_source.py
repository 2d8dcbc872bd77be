"""No page shows template source. Django's `{# #}` comment ends on the line it starts on; one
that runs over two lines is not a comment but text, printed on the page as it stands."""

import re
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


# An included partial brings its own leading and trailing whitespace (a final newline, the
# line after a comment) into the sentence around it: "mode STRICT , effective", "( STRICT".
INCLUDE = r'\{%\s*include\s+"(?P<name>[^"]+)"[^%]*%\}'
BEFORE_PUNCTUATION = re.compile(INCLUDE + r"[,.;:)]")
AFTER_BRACKET = re.compile(r"\(" + INCLUDE)
NOT_RENDERED = re.compile(r"\{% comment %\}.*?\{% endcomment %\}|\{#.*?#\}|\{% load [^%]*%\}", re.S)


def partials_included(pattern: re.Pattern) -> list[str]:
    return sorted(
        {
            match["name"]
            for template in TEMPLATES.rglob("*.html")
            for match in pattern.finditer(template.read_text(encoding="utf-8"))
        }
    )


def rendered_source(name: str) -> str:
    return NOT_RENDERED.sub("", (TEMPLATES / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", partials_included(BEFORE_PUNCTUATION))
def test_a_partial_followed_by_punctuation_ends_without_whitespace(name):
    assert rendered_source(name) == rendered_source(name).rstrip()


@pytest.mark.parametrize("name", partials_included(AFTER_BRACKET))
def test_a_partial_after_an_opening_bracket_starts_without_whitespace(name):
    assert rendered_source(name) == rendered_source(name).lstrip()
