# send_to_group.py — `manage.py send_to_group <group> <message>`: one
# channel-layer group_send of {"type": "chat.message", "message": message},
# the way a Django view, a cron job or a Celery task pushes to a room.
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = 'group_send {"type": "chat.message", "message": <message>} to <group> on the channel layer'
    requires_system_checks = []  # nothing to check; keeps the command quick

    def add_arguments(self, parser):
        parser.add_argument("group")
        parser.add_argument("message")

    def handle(self, *args, **options):
        async_to_sync(get_channel_layer().group_send)(
            options["group"], {"type": "chat.message", "message": options["message"]}
        )
        self.stdout.write(f"sent to {options['group']}")
