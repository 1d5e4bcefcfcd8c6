"""Agents: their state machine and skill routing (pure), and the API
agents and their desktop use (shell)."""
