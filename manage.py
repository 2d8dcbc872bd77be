#!/usr/bin/env python
"""Django's command-line utility for meshui."""

import os
import sys

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
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
