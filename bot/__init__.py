"""Renderers and clients for the chat platforms (Slack, Telegram)."""
