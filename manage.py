#!/usr/bin/env python
"""Django's command-line utility for meshui."""

import importlib
import os
import sys
from typing import NoReturn

# Like a usage error: the command line or the environment asks for something meshui won't do.
CONFIGURATION_ERROR = 2


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meshui.settings")
    if offline_posture(sys.argv):
        run_offline_posture(sys.argv)
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        # Load the settings before Django does, so that a refusal (no MESHUI_SECRET_KEY when
        # served to others) reads as one line instead of a traceback.
        settings.INSTALLED_APPS  # noqa: B018
    except ImproperlyConfigured as refusal:
        refuse(refusal)
    execute_from_command_line(sys.argv)


def refuse(refusal: Exception) -> NoReturn:
    sys.stderr.write(f"meshui: {refusal}\n")
    sys.exit(CONFIGURATION_ERROR)


def offline_posture(argv: list[str]) -> bool:
    """`posture` without --kubeconfig (in any abbreviation) and without the options Django
    handles before setup (--settings, --pythonpath, --skip-checks): only files are read."""
    return (
        len(argv) > 1
        and argv[1] == "posture"
        and not any(arg.startswith(("--k", "--s", "--p")) for arg in argv[2:])
    )


def run_offline_posture(argv: list[str]) -> None:
    """The offline check reads files and prints: it needs none of Django, neither its setup
    (the app registry, URLconf, admin: a third of a second) nor its settings machinery and
    command framework (a tenth). It runs from policies/offline_posture.py with the settings
    module imported as is (the same refusals, said the same way). What that path leaves to
    Django's command (help, Django's own options, usage errors in its words) runs the command
    without django.setup(), as before.

    It ends the process without tearing it down, as mypy does (`hard_exit`): the posture of
    a big mesh is a million objects, and freeing them one by one only delays the exit by a
    tenth of a second. Output is flushed first; the check holds no other resource.
    """
    settings_module = os.environ["DJANGO_SETTINGS_MODULE"]
    if not settings_module:
        return  # Django's settings say what is wrong with that
    from django.core.exceptions import ImproperlyConfigured

    try:
        settings = importlib.import_module(settings_module)
    except ImproperlyConfigured as refusal:
        refuse(refusal)
    from policies.offline_posture import offline_posture_run

    status = offline_posture_run(argv, settings, say_refusal=command_error_line)
    if status is None:
        status = run_posture_command(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def run_posture_command(argv: list[str]) -> int:
    """Django's `posture` command for these arguments, without django.setup()."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        settings.INSTALLED_APPS  # noqa: B018
    except ImproperlyConfigured as refusal:
        refuse(refusal)
    from policies.management.commands.posture import Command

    try:
        Command().run_from_argv(argv)
    except SystemExit as exit_request:  # usage errors, help, CommandError's return codes
        return exit_request.code if isinstance(exit_request.code, int) else 1
    return 0


def command_error_line(line: str) -> None:
    """Write a refusal as Django's BaseCommand writes a CommandError: in its ERROR style when
    stderr is a terminal that shows colour (Django then costs nothing more), else plain."""
    text = line + "\n"
    if sys.stderr.isatty():
        from django.core.management.color import color_style

        text = color_style().ERROR(text)
    sys.stderr.write(text)


if __name__ == "__main__":
    main()
