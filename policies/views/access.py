"""Who may open a page: checked in the view, never only by hiding a link in a template.

LoginRequiredMiddleware already sends anonymous visitors to the login page; these
decorators turn away logged-in users whose role does not allow the page (403).
"""

from collections.abc import Callable
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http.response import HttpResponseBase

from policies.roles import can_read
from policies.views.requests import MeshuiHttpRequest


def role_required(check: Callable[[object], bool] = can_read):
    """Let the view run only when `check(request.user)` holds; otherwise 403."""

    def decorator(view):
        @wraps(view)
        def guarded(request: MeshuiHttpRequest, *args, **kwargs) -> HttpResponseBase:
            if not check(request.user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return guarded

    return decorator


reader_required = role_required(can_read)
