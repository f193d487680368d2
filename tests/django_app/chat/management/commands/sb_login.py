# sb_login — `manage.py sb_login USER PASSWORD`: creates the user if it
# does not exist, logs in with Django's test client (a real login through
# django.contrib.auth and the SESSION_ENGINE) and prints the session
# cookie as `name=value`. Needs the database mode (SB_DJANGO_DB_DIR).
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import BaseCommand, CommandError
from django.test import Client


class Command(BaseCommand):
    help = "Create a user if needed, log in, print the session cookie."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("password")

    def handle(self, *args, username, password, **options):
        users = get_user_model()
        if not users.objects.filter(username=username).exists():
            users.objects.create_user(username=username, password=password)
        client = Client()
        if not client.login(username=username, password=password):
            raise CommandError("login refused")
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        self.stdout.write(f"{settings.SESSION_COOKIE_NAME}={cookie.value}")
