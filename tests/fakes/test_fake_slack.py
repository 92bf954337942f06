"""The fake Slack Web API, driven by the real slack_sdk WebClient and slack_bolt App."""

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_bolt import Ack, App, BoltRequest, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from tests.fakes.slack import (
    FakeSlack,
    block_action_body,
    event_body,
    sign,
    slash_command_body,
    view_submission_body,
)

CHANNEL = "C0TRIAGE"
SECRET = "signing-secret"
CARD = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Ticket #1*"}}]


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> WebClient:
    return WebClient(token="xoxb-test", base_url=slack.url, retry_handlers=[])


def api_error(excinfo: pytest.ExceptionInfo[SlackApiError]) -> tuple[int, str | None]:
    """The HTTP status and Slack error of a failed call."""
    response = excinfo.value.response
    return response.status_code, response.get("error")


def test_url_is_the_api_base_on_loopback(slack: FakeSlack) -> None:
    assert slack.url.startswith("http://127.0.0.1:")
    assert slack.url.endswith("/api/")


def test_auth_test_names_the_bot(client: WebClient) -> None:
    answer = client.auth_test()

    assert answer["user_id"] == "U0BOT"
    assert answer["bot_id"] == "B0BOT"
    assert answer["team_id"] == "T0FAKE"


def test_post_then_update_reads_back_the_new_text(client: WebClient, slack: FakeSlack) -> None:
    posted = client.chat_postMessage(channel=CHANNEL, text="new ticket", blocks=CARD)
    client.chat_update(channel=CHANNEL, ts=posted["ts"], text="ticket taken")

    [message] = slack.messages_in(CHANNEL)
    assert posted["message"]["user"] == "U0BOT"
    assert message["ts"] == posted["ts"]
    assert message["text"] == "ticket taken"
    assert message["blocks"] == CARD


def test_ts_values_are_unique_and_increasing(client: WebClient) -> None:
    stamps = [client.chat_postMessage(channel=CHANNEL, text=str(n))["ts"] for n in range(3)]

    assert stamps == sorted(stamps, key=float)
    assert len(set(stamps)) == 3


def test_update_of_an_unknown_ts_is_message_not_found(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_update(channel=CHANNEL, ts="1.000000", text="x")

    assert api_error(excinfo) == (200, "message_not_found")


def test_blocks_arrive_parsed_from_json_and_from_form_bodies(
    client: WebClient, slack: FakeSlack
) -> None:
    client.chat_postMessage(channel=CHANNEL, text="json", blocks=CARD)
    form = {"channel": CHANNEL, "text": "form", "blocks": json.dumps(CARD)}
    client.api_call("chat.postMessage", params=form)

    assert [call.args["blocks"] for call in slack.calls_to("chat.postMessage")] == [CARD, CARD]


def test_a_thread_reply_lands_in_the_thread_only(client: WebClient, slack: FakeSlack) -> None:
    parent = client.chat_postMessage(channel=CHANNEL, text="ticket")
    client.chat_postMessage(channel=CHANNEL, text="reply", thread_ts=parent["ts"])

    assert [m["text"] for m in slack.thread(CHANNEL, parent["ts"])] == ["reply"]
    assert [m["text"] for m in slack.messages_in(CHANNEL)] == ["ticket"]
    replies = client.conversations_replies(channel=CHANNEL, ts=parent["ts"])
    assert [m["text"] for m in replies["messages"]] == ["ticket", "reply"]


def test_history_pages_newest_first_and_shows_metadata_only_on_request(
    client: WebClient, slack: FakeSlack
) -> None:
    marks = [{"event_type": "helpdesk_ticket", "event_payload": {"n": n}} for n in range(5)]
    posted = [
        client.chat_postMessage(channel=CHANNEL, text=f"m{n}", metadata=marks[n]) for n in range(5)
    ]
    client.chat_postMessage(channel=CHANNEL, text="a reply", thread_ts=posted[0]["ts"])

    first = client.conversations_history(channel=CHANNEL, limit=2, include_all_metadata=True)
    assert [m["text"] for m in first["messages"]] == ["m4", "m3"]
    assert [m["metadata"]["event_payload"]["n"] for m in first["messages"]] == [4, 3]
    assert first["has_more"] is True
    rest = client.conversations_history(
        channel=CHANNEL, limit=10, cursor=first["response_metadata"]["next_cursor"]
    )
    assert [m["text"] for m in rest["messages"]] == ["m2", "m1", "m0"]  # no thread replies
    assert rest["has_more"] is False and rest["response_metadata"]["next_cursor"] == ""
    assert not any("metadata" in m for m in rest["messages"])
    since = client.conversations_history(channel=CHANNEL, oldest=posted[2]["ts"])
    assert [m["text"] for m in since["messages"]] == ["m4", "m3"]


def test_a_lost_answer_hides_a_call_that_took_effect(client: WebClient, slack: FakeSlack) -> None:
    slack.lose_answers("chat.postMessage")
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel=CHANNEL, text="posted all the same")

    assert api_error(excinfo) == (500, "internal_error")
    assert [m["text"] for m in slack.messages_in(CHANNEL)] == ["posted all the same"]
    client.chat_postMessage(channel=CHANNEL, text="answered")  # only the next call was hit
    assert len(slack.calls_to("chat.postMessage")) == 2


def test_a_response_url_of_a_click_redraws_the_message_five_times(
    client: WebClient, slack: FakeSlack
) -> None:
    card = client.chat_postMessage(channel=CHANNEL, text="ticket", blocks=CARD)
    hook = WebhookClient(slack.response_url("r1", channel=CHANNEL, ts=card["ts"]))

    answers = [hook.send(text=f"v{n}", replace_original=True) for n in range(6)]

    assert [a.status_code for a in answers] == [200] * 5 + [404]
    assert answers[-1].body == "used_url"
    [message] = slack.messages_in(CHANNEL)
    assert (message["ts"], message["text"]) == (card["ts"], "v4")
    assert len(slack.responses_for("r1")) == 6  # every post is recorded, refused or not


def test_an_expired_response_url_is_refused(client: WebClient, slack: FakeSlack) -> None:
    card = client.chat_postMessage(channel=CHANNEL, text="ticket")
    slack.response_url_lifetime = 0.0
    hook = WebhookClient(slack.response_url("r1", channel=CHANNEL, ts=card["ts"]))

    answer = hook.send(text="too late", replace_original=True)

    assert (answer.status_code, answer.body) == (404, "expired_url")
    assert slack.messages_in(CHANNEL)[0]["text"] == "ticket"


def test_a_message_without_channel_is_channel_not_found(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="", text="lost")

    assert api_error(excinfo) == (200, "channel_not_found")


def test_ephemeral_messages_are_recorded(client: WebClient, slack: FakeSlack) -> None:
    answer = client.chat_postEphemeral(channel=CHANNEL, user="U1", text="only you")

    assert answer["message_ts"]
    assert slack.ephemerals[0]["user"] == "U1"


def test_rate_limit_answers_429_with_retry_after(client: WebClient, slack: FakeSlack) -> None:
    slack.rate_limit("chat.postMessage", 2)
    client.chat_postMessage(channel=CHANNEL, text="one")
    client.chat_postMessage(channel=CHANNEL, text="two")

    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel=CHANNEL, text="three")

    assert api_error(excinfo) == (429, "ratelimited")
    assert excinfo.value.response.headers["Retry-After"] == "1"
    assert len(slack.calls_to("chat.postMessage")) == 2
    assert [call.status for call in slack.attempts("chat.postMessage")] == [200, 200, 429]


def test_rate_limit_is_per_channel_and_can_be_removed(client: WebClient, slack: FakeSlack) -> None:
    slack.rate_limit("chat.postMessage", 1)
    client.chat_postMessage(channel=CHANNEL, text="one")
    client.chat_postMessage(channel="C0OTHER", text="other channel")
    slack.rate_limit("chat.postMessage", None)

    client.chat_postMessage(channel=CHANNEL, text="again")

    assert len(slack.calls_to("chat.postMessage")) == 3


def test_fail_next_gives_500_once_then_works(client: WebClient, slack: FakeSlack) -> None:
    slack.fail_next("chat.postMessage")

    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel=CHANNEL, text="first")
    client.chat_postMessage(channel=CHANNEL, text="second")

    assert api_error(excinfo) == (500, "internal_error")
    assert [m["text"] for m in slack.messages_in(CHANNEL)] == ["second"]


def test_fail_next_with_status_200_is_a_slack_error(client: WebClient, slack: FakeSlack) -> None:
    slack.fail_next("chat.update", status=200, error="cant_update_message")

    with pytest.raises(SlackApiError) as excinfo:
        client.chat_update(channel=CHANNEL, ts="1.000000", text="x")

    assert api_error(excinfo) == (200, "cant_update_message")


def test_down_fails_every_call_until_lifted(client: WebClient, slack: FakeSlack) -> None:
    slack.down(60)
    with pytest.raises(SlackApiError) as excinfo:
        client.auth_test()
    slack.down(None)

    assert api_error(excinfo) == (500, "internal_error")
    assert client.auth_test()["ok"]


def test_down_ends_by_itself(client: WebClient, slack: FakeSlack) -> None:
    slack.down(0.05)
    with pytest.raises(SlackApiError):
        client.auth_test()
    time.sleep(0.06)

    assert client.auth_test()["ok"]


def test_views_open_stores_the_view_and_needs_a_trigger(
    client: WebClient, slack: FakeSlack
) -> None:
    modal = {"type": "modal", "callback_id": "new_ticket", "title": {"type": "plain_text"}}
    opened = client.views_open(trigger_id="T-trigger-1", view=modal)

    with pytest.raises(SlackApiError) as excinfo:
        client.views_open(trigger_id="", view=modal)

    assert opened["view"]["callback_id"] == "new_ticket"
    assert slack.views[opened["view"]["id"]]["hash"] == opened["view"]["hash"]
    assert api_error(excinfo) == (200, "invalid_trigger_id")


def test_views_update_and_publish(client: WebClient, slack: FakeSlack) -> None:
    opened = client.views_open(trigger_id="T-1", view={"type": "modal", "callback_id": "a"})
    view_id = opened["view"]["id"]
    client.views_update(view_id=view_id, view={"type": "modal", "callback_id": "b"})
    client.views_publish(user_id="U1", view={"type": "home", "blocks": []})

    assert slack.views[view_id]["callback_id"] == "b"
    assert slack.home_views["U1"]["type"] == "home"


def test_files_upload_v2_puts_the_bytes_in_uploads(client: WebClient, slack: FakeSlack) -> None:
    answer = client.files_upload_v2(channel=CHANNEL, content=b"hello", filename="a.txt")

    file_id = answer["file"]["id"]
    assert slack.uploads[file_id] == b"hello"
    assert answer["file"]["title"] == "a.txt"


def test_members_and_usergroup_users_answer_configured_lists(
    client: WebClient, slack: FakeSlack
) -> None:
    slack.channel_members["C0AGENTS"] = ["U1", "U2"]
    slack.usergroup_users["S0LEADS"] = ["U3"]

    assert client.conversations_members(channel="C0AGENTS")["members"] == ["U1", "U2"]
    assert client.usergroups_users_list(usergroup="S0LEADS")["users"] == ["U3"]
    with pytest.raises(SlackApiError) as excinfo:
        client.usergroups_users_list(usergroup="S0NOBODY")
    assert api_error(excinfo) == (200, "no_such_subteam")


def test_users_info_makes_up_a_profile(client: WebClient) -> None:
    user = client.users_info(user="U7")["user"]

    assert user == {"id": "U7", "name": "u7", "real_name": "User U7", "tz": "UTC"}


def test_unknown_method_and_bad_token_answer_like_slack(slack: FakeSlack) -> None:
    good = WebClient(token="xoxb-test", base_url=slack.url, retry_handlers=[])
    bad = WebClient(token="nope", base_url=slack.url, retry_handlers=[])

    with pytest.raises(SlackApiError) as unknown:
        good.api_call("tickets.explode")
    with pytest.raises(SlackApiError) as unauthorized:
        bad.auth_test()

    assert api_error(unknown) == (200, "unknown_method")
    assert api_error(unauthorized) == (200, "invalid_auth")


def test_reset_forgets_calls_state_and_faults(client: WebClient, slack: FakeSlack) -> None:
    client.chat_postMessage(channel=CHANNEL, text="old")
    slack.fail_next("auth.test")
    slack.reset()

    assert client.auth_test()["ok"]
    assert slack.messages_in(CHANNEL) == []
    assert [call.method for call in slack.calls] == ["auth.test"]


def test_sign_is_accepted_by_slack_sdk_verifier() -> None:
    body = slash_command_body(user="U1", text="help")
    headers = sign(SECRET, body)

    verifier = SignatureVerifier(SECRET)
    timestamp, signature = headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    assert verifier.is_valid(body, timestamp, signature)
    assert not verifier.is_valid(body + b"x", timestamp, signature)


def test_payload_builders_encode_as_slack_does() -> None:
    action = block_action_body(user="U1", action_id="take", selected="p1", message_ts="1.2")
    submission = view_submission_body(
        user="U1", callback_id="new_ticket", private_metadata="42", values={"b": {}}
    )

    payload = json.loads(parse_qs(action.decode())["payload"][0])
    submitted = json.loads(parse_qs(submission.decode())["payload"][0])
    assert payload["actions"][0]["selected_option"]["value"] == "p1"
    assert payload["message"]["ts"] == "1.2"
    assert submitted["view"]["state"]["values"] == {"b": {}}


@pytest.fixture
def bolt(slack: FakeSlack) -> App:
    client = WebClient(token="xoxb-test", base_url=slack.url, retry_handlers=[])
    return App(client=client, signing_secret=SECRET, process_before_response=True)


def dispatch(app: App, body: bytes, content_type: str) -> int:
    """Send a signed request through Bolt and return the HTTP status it answers."""
    headers = {**sign(SECRET, body), "Content-Type": content_type}
    return app.dispatch(BoltRequest(body=body.decode(), headers=headers)).status


FORM = "application/x-www-form-urlencoded"


def test_bolt_routes_a_block_action_to_its_listener(bolt: App, slack: FakeSlack) -> None:
    seen: list[dict[str, Any]] = []

    @bolt.action("take")
    def take(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        seen.append(body)

    body = block_action_body(user="U1", action_id="take", value="7", message_ts="1.2")

    assert dispatch(bolt, body, FORM) == 200
    assert seen[0]["actions"][0]["value"] == "7"
    assert slack.calls_to("auth.test")


def test_bolt_respond_reaches_the_response_url(bolt: App, slack: FakeSlack) -> None:
    @bolt.command("/ticket")
    def ticket(ack: Ack, respond: Respond) -> None:
        ack()
        respond(text="Ticket created")

    body = slash_command_body(user="U1", response_url=slack.response_url("r1"))

    assert dispatch(bolt, body, FORM) == 200
    assert slack.responses_for("r1")[0]["text"] == "Ticket created"


def test_bolt_routes_a_view_submission_and_an_event(bolt: App) -> None:
    seen: list[str] = []

    @bolt.view("new_ticket")
    def submitted(ack: Ack, view: dict[str, Any]) -> None:
        ack()
        seen.append(view["private_metadata"])

    @bolt.event("app_mention")
    def mentioned(event: dict[str, Any]) -> None:
        seen.append(event["text"])

    submission = view_submission_body(
        user="U1", callback_id="new_ticket", private_metadata="42", values={}
    )
    mention = {"type": "app_mention", "user": "U1", "text": "hi", "ts": "1.2", "channel": CHANNEL}

    assert dispatch(bolt, submission, FORM) == 200
    assert dispatch(bolt, event_body(mention), "application/json") == 200
    assert seen == ["42", "hi"]
