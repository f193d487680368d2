# sb_token — `manage.py sb_token USER [--rooms R ...] [--ttl S]`: prints
# switchboard_django.token_for(USER) as a view would put it into a page
# (settings.SWITCHBOARD_JWT_SECRET, from SB_JWT_SECRET). Needs the
# database mode (SB_DJANGO_DB_DIR) and the user (sb_login makes one).
from django.contrib.auth import get_user_model
from django.core.management import BaseCommand

from switchboard_django import token_for


class Command(BaseCommand):
    help = "Print a Switchboard token for a user."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--rooms", nargs="*", default=None)
        parser.add_argument("--ttl", type=int, default=3600)
        parser.add_argument("--first-name", default=None)

    def handle(self, *args, username, rooms, ttl, first_name, **options):
        user = get_user_model().objects.get(username=username)
        if first_name is not None:
            user.first_name = first_name
            user.save()
        self.stdout.write(token_for(user, rooms=rooms, ttl=ttl))
