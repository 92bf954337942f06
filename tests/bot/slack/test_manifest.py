"""The shipped app manifest asks for what the listeners answer, and no more."""

from pathlib import Path

import yaml

MANIFEST = Path(__file__).resolve().parents[3] / "slack-manifest.yml"


def test_manifest_declares_the_command_events_and_interactivity() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/ticket"]
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    settings = manifest["settings"]
    assert set(settings["event_subscriptions"]["bot_events"]) == {
        "app_home_opened",
        "message.channels",
        "message.groups",
    }
    assert settings["interactivity"]["is_enabled"] is True
    urls = {
        settings["interactivity"]["request_url"],
        settings["event_subscriptions"]["request_url"],
        manifest["features"]["slash_commands"][0]["url"],
    }
    assert urls == {"https://helpdesk.example.com/slack/events"}
    assert "chat:write" in manifest["oauth_config"]["scopes"]["bot"]
