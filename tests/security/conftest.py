"""The Slack-connected desk of the handler tests, for the security tests that need it."""

from tests.handlers.conftest import desk

__all__ = ["desk"]
