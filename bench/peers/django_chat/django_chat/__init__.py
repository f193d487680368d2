# django_chat: the settings package of the seed peer (the Django Channels tutorial chat),
# used only by bench/compare to measure the stack Switchboard replaces.
