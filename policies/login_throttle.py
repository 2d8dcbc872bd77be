"""Failed logins are throttled per username and per client address, with django-axes.

After MESHUI_LOGIN_FAILURE_LIMIT failures for one username (from anywhere) or from one address
(whatever the usernames), further logins there are refused, the right password included, for
MESHUI_LOGIN_COOLOFF_MINUTES; each refused attempt restarts the wait. Admins unlock sooner with
axes' commands (`manage.py axes_reset_username NAME`, `axes_reset_ip ADDRESS`, `axes_reset`).
Settings wire these hooks in by their dotted names (AXES_*).
"""

import ipaddress

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_client_username
from axes.models import AccessBase
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


class LoginThrottleBackend(AxesStandaloneBackend):
    """axes' gate, first in AUTHENTICATION_BACKENDS: refuses a locked-out login, logs no one in.

    Without a request (manage.py shell, Django's test client) there is no client address to
    count, and axes cannot record such a failure either; those checks pass through to the
    backends after this one instead of failing with axes' "request required" error. Every login
    over the network (the login form, single sign-on's callback) carries its request.
    """

    def authenticate(self, request, username=None, password=None, **credentials):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **credentials)


def lockout_parameters(
    request_or_attempt: HttpRequest | AccessBase, credentials: dict | None = None
) -> list[list[str]]:
    """Count failures per username and per address; without a username, per address only.

    A failed single sign-on callback has no username: counted under "no username", such
    failures from anywhere would add up to one lock that refuses every single sign-on.
    """
    if isinstance(request_or_attempt, AccessBase):
        username = request_or_attempt.username
    else:
        username = get_client_username(request_or_attempt, credentials)
    return [["username"], ["ip_address"]] if username else [["ip_address"]]


def client_address(request: HttpRequest) -> str | None:
    """The address failures are counted against: the peer, or the client the proxy saw.

    Behind MESHUI_BEHIND_PROXY every peer is the proxy, and one address for everyone would let
    five wrong passwords lock the whole company out. The proxy appends the address it saw to
    X-Forwarded-For; entries before it are the client's own say and are not trusted.
    """
    if settings.MESHUI_BEHIND_PROXY:
        hops = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if _is_ip_address(hops[-1].strip()):
            return hops[-1].strip()
    peer = request.META.get("REMOTE_ADDR", "")
    return peer if _is_ip_address(peer) else None


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """429 with a page that says why and for how long; Retry-After for scripts."""
    cooloff = settings.AXES_COOLOFF_TIME
    cooloff_seconds = int(cooloff.total_seconds()) if cooloff else None
    response = render(
        request,
        "registration/locked_out.html",
        {
            "failure_limit": settings.AXES_FAILURE_LIMIT,
            "cooloff_minutes": cooloff_seconds // 60 if cooloff_seconds else None,
        },
        status=429,
    )
    if cooloff_seconds:
        response["Retry-After"] = str(cooloff_seconds)
    return response
