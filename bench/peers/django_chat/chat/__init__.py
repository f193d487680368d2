# chat: the tutorial's chat app, reduced to its WebSocket consumer and routing (the seed peer).
