#!/usr/bin/env python
"""Django's command-line utility for meshui."""

import os
import sys
from typing import NoReturn

# Like a usage error: the command line or the environment asks for something meshui won't do.
CONFIGURATION_ERROR = 2


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meshui.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        # Load the settings before Django does, so that a refusal (no MESHUI_SECRET_KEY when
        # served to others) reads as one line instead of a traceback.
        settings.INSTALLED_APPS  # noqa: B018
    except ImproperlyConfigured as refusal:
        sys.stderr.write(f"meshui: {refusal}\n")
        sys.exit(CONFIGURATION_ERROR)
    if offline_posture(sys.argv):
        run_offline_posture(sys.argv)
    execute_from_command_line(sys.argv)


def offline_posture(argv: list[str]) -> bool:
    """`posture` without --kubeconfig (in any abbreviation) and without the options Django
    handles before setup (--settings, --pythonpath, --skip-checks): only files are read."""
    return (
        len(argv) > 1
        and argv[1] == "posture"
        and not any(arg.startswith(("--k", "--s", "--p")) for arg in argv[2:])
    )


def run_offline_posture(argv: list[str]) -> NoReturn:
    """The offline check reads files and prints: it needs neither the app registry, the
    URLconf, Celery nor the admin that django.setup() loads (a third of a second).

    It ends the process without tearing it down, as mypy does (`hard_exit`): the posture of
    a big mesh is a million objects, and freeing them one by one only delays the exit by a
    tenth of a second. Output is flushed first; the command holds no other resource.
    """
    from policies.management.commands.posture import Command

    command = Command()
    command.keep_results = True
    try:
        command.run_from_argv(argv)
        status = 0
    except SystemExit as exit_request:  # usage errors, CommandError's return codes
        status = exit_request.code if isinstance(exit_request.code, int) else 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    main()
