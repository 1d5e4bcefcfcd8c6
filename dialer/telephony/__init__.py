"""Thin adapters to Asterisk: AMI (panoramisk's protocol) and ARI (REST and
WebSocket over aiohttp). They turn messages into dialer.calls.events and
hold no business rules."""
