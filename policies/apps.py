from importlib import import_module

from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    name = "policies"
    verbose_name = "mTLS policies"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from policies.middleware import session_start

        # Every process that sets Django up gets meshui's Celery app before any task is
        # sent, so `shared_task` binds to it (meshui/__init__.py says why it is not there).
        import_module("meshui.celery")

        # The one place every login passes: the form, single sign-on, force_login.
        user_logged_in.connect(session_start, dispatch_uid="meshui-session-start")
