"""Send mail through Mailgun's HTTP API (US or EU host), with plain httpx."""

from __future__ import annotations

from typing import Any

import httpx

from ticketcore.mail import MailDeferred, MailRejected, OutgoingMail

DEFAULT_API_URL = "https://api.mailgun.net"  # the EU host is https://api.eu.mailgun.net
MAX_TAGS = 3  # Mailgun keeps at most three o:tag values, 128 characters each


def reason_of(response: httpx.Response) -> str:
    """Mailgun's own words for a refusal: JSON `message`, else the body's first line."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        text = body["message"]
    else:
        text = response.text.strip().splitlines()[0] if response.text.strip() else ""
    return f"Mailgun {response.status_code}: {text or response.reason_phrase}"[:300]


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class MailgunMailer:
    def __init__(
        self,
        api_key: str,
        domain: str,
        api_url: str | None = None,
        *,
        timeout: float = 30,
        client: httpx.Client | None = None,
    ) -> None:
        base = f"{(api_url or DEFAULT_API_URL).rstrip('/')}/v3/{domain}"
        self.endpoint = f"{base}/messages"
        self.events = f"{base}/events"
        self.client = client or httpx.Client(auth=("api", api_key), timeout=timeout)

    def fields(self, mail: OutgoingMail) -> dict[str, Any]:
        data: dict[str, Any] = {
            "from": mail.sender,
            "to": mail.to,
            "subject": mail.subject,
            "text": mail.text,
            "o:tag": [tag[:128] for tag in mail.tags[:MAX_TAGS]],
        }
        if mail.html:
            data["html"] = mail.html
        data.update({f"h:{name}": value for name, value in mail.extra_headers().items()})
        return data

    def send(self, mail: OutgoingMail) -> str:
        try:
            response = self.client.post(self.endpoint, data=self.fields(mail))
        except httpx.TransportError as exc:
            raise MailDeferred(f"Mailgun unreachable: {type(exc).__name__}: {exc}") from exc
        if response.status_code == 200:
            body = response.json()
            return str(body.get("id") or mail.message_id)
        if response.status_code == 429 or response.status_code >= 500:
            raise MailDeferred(reason_of(response), retry_after(response))
        # 400 (a bad address), 401/403 (our key), 404 (our domain): retrying changes nothing.
        raise MailRejected(reason_of(response))

    def accepted(self, message_id: str) -> str | None:
        """Asks the events API. Mailgun takes the mail's own Message-Id as its id (without
        brackets), and logs `accepted` as it queues the mail."""
        params = {"event": "accepted", "message-id": message_id.strip("<>"), "limit": "1"}
        try:
            response = self.client.get(self.events, params=params)
        except httpx.TransportError as exc:
            raise MailDeferred(f"Mailgun unreachable: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise MailDeferred(reason_of(response), retry_after(response))
        try:
            items = response.json().get("items") or []
        except (ValueError, AttributeError):
            raise MailDeferred("Mailgun's events answer is not a JSON object") from None
        return f"<{message_id.strip('<>')}>" if items else None

    def close(self) -> None:
        self.client.close()
