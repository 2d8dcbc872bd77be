"""Changing one's own password: Django's view, which also lifts a one-time password's hold.

Django's class-based view is kept (its form, session-hash update and redirect are the
password change); only the hold is added.
"""

from django.contrib.auth import views as auth_views

from policies.middleware import PASSWORD_CHANGE_REQUIRED
from policies.services.accounts import password_change_required_clear


class PasswordChangeView(auth_views.PasswordChangeView):
    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["one_time_password"] = bool(self.request.session.get(PASSWORD_CHANGE_REQUIRED))
        return context

    def form_valid(self, form):
        response = super().form_valid(form)
        password_change_required_clear(user=self.request.user)
        self.request.session.pop(PASSWORD_CHANGE_REQUIRED, None)
        return response
