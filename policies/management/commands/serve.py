"""Run meshui on its embedded default: SQLite, migrations applied, the development server."""

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Apply migrations and serve meshui on http://127.0.0.1:8000 (the README's run command)."

    def add_arguments(self, parser):
        parser.add_argument("--addrport", default="127.0.0.1:8000")

    def handle(self, *args, addrport: str, **options):
        call_command("migrate", verbosity=0, interactive=False)
        self.stdout.write(f"meshui: serving on http://{addrport}/")
        call_command("runserver", addrport, use_reloader=False)
