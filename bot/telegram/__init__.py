"""Telegram: the players' texts and keyboards, in their language."""
