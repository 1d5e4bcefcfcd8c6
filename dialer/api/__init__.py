"""`recobro api`: the HTTP API and WebSocket agents' desktops use."""
