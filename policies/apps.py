from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    name = "policies"
    verbose_name = "mTLS policies"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from policies.middleware import session_start

        # The one place every login passes: the form, single sign-on, force_login.
        user_logged_in.connect(session_start, dispatch_uid="meshui-session-start")
