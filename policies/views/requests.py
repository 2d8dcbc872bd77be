"""The request meshui's views take: what the middleware adds to Django's, declared once.

Views behind the login (all but /healthz and /metrics) take a `MeshuiHttpRequest`:
django-htmx's middleware sets `htmx`, and LoginRequiredMiddleware has sent anyone not
logged in to the login page, so `user` is a real account. (healthchecks' views take an
`AuthenticatedHttpRequest` for the same reason.)
"""

from django.contrib.auth.models import User
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class MeshuiHttpRequest(HttpRequest):
    """A request that passed meshui's middleware: htmx details and a logged-in user."""

    htmx: HtmxDetails
    user: User
