# management: Django management commands of the chat app.
