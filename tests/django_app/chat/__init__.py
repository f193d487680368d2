# chat: the tutorial's chat app, reduced to its WebSocket consumer, its route
# and the send_to_group management command.
