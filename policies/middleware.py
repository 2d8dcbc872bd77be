"""What a login session may do, and for how long: checked on every request.

`session_start` (a `user_logged_in` receiver, so every way of logging in is covered: the form,
single sign-on, `force_login`) stamps the session; the middleware reads the stamps:

- SessionLimitsMiddleware ends a session idle for MESHUI_SESSION_IDLE_MINUTES or older than
  MESHUI_SESSION_MAX_HOURS, however busy. SESSION_COOKIE_AGE alone is no absolute limit: it
  counts from the session's last save.
- PasswordChangeRequiredMiddleware sends a login made with a one-time password (createuser's)
  to the password change, from every page, until the user has chosen their own.
- NoStoreForLoggedInMiddleware keeps what a logged-in user saw out of browser and proxy
  caches, so the Back button after logging out, or the next person at a shared machine,
  finds nothing.

An htmx request is answered with HX-Redirect, so the whole page goes to the login instead of
the login form landing inside a table.
"""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.deprecation import MiddlewareMixin
from django_htmx.http import HttpResponseClientRedirect

from policies.selectors.accounts import password_change_is_required

# Session keys: times in seconds since the epoch, and whether the password must change first
# (read once at login, so pages cost no extra query).
LOGIN_AT = "meshui_login_at"
SEEN_AT = "meshui_seen_at"
PASSWORD_CHANGE_REQUIRED = "meshui_password_change_required"  # noqa: S105 (a key name)
# Last activity is rewritten at most this often: saving the session on every request would be
# a database write per page, and a minute is finer than any idle limit.
SEEN_AT_RESOLUTION_SECONDS = 60


def session_start(sender, request: HttpRequest, user, **kwargs) -> None:
    """Stamp a new login: both session limits count from here."""
    now = int(time.time())
    request.session[LOGIN_AT] = now
    request.session[SEEN_AT] = now
    if password_change_is_required(user=user):
        request.session[PASSWORD_CHANGE_REQUIRED] = True


def session_expiry(session, *, now: int) -> str | None:
    """Why this logged-in session is over, in words for the login page; None if it is not."""
    login_at, seen_at = session.get(LOGIN_AT), session.get(SEEN_AT)
    if login_at is None or seen_at is None:
        # Logged in before meshui stamped sessions: start over once rather than trust it.
        return "Your session expired. Please log in again."
    max_hours = settings.MESHUI_SESSION_MAX_HOURS
    if now - login_at > max_hours * 3600:
        return (
            f"Your session expired: a login lasts at most {max_hours} "
            f"hour{'s' if max_hours != 1 else ''}. Please log in again."
        )
    idle_minutes = settings.MESHUI_SESSION_IDLE_MINUTES
    if now - seen_at > idle_minutes * 60:
        return (
            f"Your session expired after {idle_minutes} "
            f"minute{'s' if idle_minutes != 1 else ''} without activity. Please log in again."
        )
    return None


def page_redirect(request: HttpRequest, url: str) -> HttpResponse:
    """Send the browser's page to `url`; for htmx, the page itself rather than the fragment."""
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return HttpResponseRedirect(url)


def is_public(view_func) -> bool:
    """Views marked login_not_required (login page, health check, metrics)."""
    return not getattr(view_func, "login_required", True)


class SessionLimitsMiddleware(MiddlewareMixin):
    """Log out a session past its idle or absolute limit; send it to the login, saying why."""

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        if not request.user.is_authenticated:
            return None
        now = int(time.time())
        expiry = session_expiry(request.session, now=now)
        if expiry is None:
            if now - request.session[SEEN_AT] >= SEEN_AT_RESOLUTION_SECONDS:
                request.session[SEEN_AT] = now
            return None
        return_to = self.page_to_return_to(request)
        logout(request)
        messages.info(request, expiry)
        if is_public(view_func):
            return None  # the login page (or a probe) serves the visitor as they now are
        if return_to is None:
            return page_redirect(request, resolve_url(settings.LOGIN_URL))
        return page_redirect(request, redirect_to_login(return_to)["Location"])

    @staticmethod
    def page_to_return_to(request: HttpRequest) -> str | None:
        """The page to reopen after logging in again: the one in the address bar."""
        if request.htmx:
            return request.htmx.current_url_abs_path
        # Replaying a POST's URL as a GET after login would only meet "method not allowed".
        return request.get_full_path() if request.method == "GET" else None


class PasswordChangeRequiredMiddleware(MiddlewareMixin):
    """Until a one-time password is replaced, every page but changing it leads there."""

    STILL_OPEN = frozenset({"password_change", "password_change_done", "logout"})

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        if not request.session.get(PASSWORD_CHANGE_REQUIRED) or is_public(view_func):
            return None
        if not request.user.is_authenticated or request.resolver_match.view_name in self.STILL_OPEN:
            return None
        return page_redirect(request, reverse("password_change"))


class NoStoreForLoggedInMiddleware(MiddlewareMixin):
    """Cache-Control: no-store on responses to a logged-in user that set no caching of their own.

    Static files never get here (WhiteNoise answers first); a view that chose its caching
    (the metrics endpoint, the report's print stylesheet) keeps its choice.
    """

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not response.has_header("Cache-Control"):
            add_never_cache_headers(response)
        return response
