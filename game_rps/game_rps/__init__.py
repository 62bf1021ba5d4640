"""Rock Paper Scissors Apocalypse: the game server (control API, player WebSocket, engine)."""
