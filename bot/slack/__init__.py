"""Slack: pure Block Kit renderers, the Bolt app's listeners, and delivery of cards."""
