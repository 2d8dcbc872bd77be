"""Requests refused before any view runs: a NUL byte in the path or in a parameter.

PostgreSQL can neither store nor compare text holding NUL (psycopg refuses to send it), so a
single `%00` in a URL or form would reach a query and answer 500. Forms already refuse NUL in
their own fields (Django's CharField does); this covers path parameters, parameters no form
reads, and parameter names, with one 400 page that says what was wrong.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

NUL = "\x00"


def _has_nul(request: HttpRequest) -> bool:
    if NUL in request.path:
        return True
    parameters = [request.GET]
    if request.method == "POST":  # form fields; other bodies leave request.POST empty
        parameters.append(request.POST)
    return any(
        NUL in key or any(NUL in value for value in values)
        for query in parameters
        for key, values in query.lists()
    )


class NulByteRefusalMiddleware:
    """Answer 400 to a request whose path or parameters hold a NUL byte."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _has_nul(request):
            return render(
                request,
                "400.html",
                {
                    "problem": "The address or a form field holds a NUL byte (%00), which no "
                    "name or value in meshui can contain."
                },
                status=400,
            )
        return self.get_response(request)
