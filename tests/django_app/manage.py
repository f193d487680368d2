#!/usr/bin/python3
# manage.py — Django's command-line entry for the interop test app
# (tests/integration/test_django_daphne.py), e.g.
#   SB_REDIS_PORT=6479 /usr/bin/python3 tests/django_app/manage.py send_to_group chat_lobby hi
import os
import sys

if __name__ == "__main__":
    # `python3 tests/django_app/manage.py` puts this directory on sys.path itself,
    # so chatsite/ and chat/ import without PYTHONPATH.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
