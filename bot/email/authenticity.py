"""Whether a forwarded mail's sender is who its From header says, by Mailgun's verdicts.

Mailgun checks SPF and DKIM on receipt and, with the domain's spam filter set to "mark
spam with MIME headers", adds `X-Mailgun-Spf` (Pass, Neutral, Fail, SoftFail) and
`X-Mailgun-Dkim-Check-Result` (Pass, Fail); the receiving chain may add an
`Authentication-Results` header with a DMARC verdict. A mail can carry headers of the same
names written by its sender, so every copy is read and the worst one counts: a forged
"Pass" beside Mailgun's "Fail" changes nothing, and a forged "fail" only hurts the forger.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

SPF = "x-mailgun-spf"
DKIM = "x-mailgun-dkim-check-result"
DKIM_SIGNATURE = "dkim-signature"
AUTHENTICATION_RESULTS = "authentication-results"
MAX_VALUE = 4096  # characters of one header value read; verdicts are near the start
_DMARC_FAIL = re.compile(r"\bdmarc\s*=\s*fail\b", re.IGNORECASE)
_SIGNING_DOMAIN = re.compile(r"(?:^|;)\s*d\s*=\s*([a-z0-9.-]{1,253})\s*(?:;|$)", re.IGNORECASE)

Header = tuple[str, str]


def header_pairs(raw: str | None) -> list[Header]:
    """Every [name, value] of Mailgun's `message-headers` JSON, names in lower case."""
    try:
        pairs = json.loads(raw or "[]")
    except ValueError:
        return []
    if not isinstance(pairs, list):
        return []
    return [
        (pair[0].lower(), pair[1][:MAX_VALUE])
        for pair in pairs
        if isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
    ]


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().lower().rstrip(".")


def is_aligned(domain: str, from_domain: str) -> bool:
    """DMARC's relaxed alignment, short of the public suffix list: the same domain, or one
    a subdomain of the other."""
    if not domain or not from_domain:
        return False
    return (
        domain == from_domain
        or domain.endswith(f".{from_domain}")
        or from_domain.endswith(f".{domain}")
    )


def all_pass(values: list[str]) -> bool:
    return bool(values) and all(v.strip().lower() == "pass" for v in values)


def is_verified_sender(sender: str, envelope_sender: str, headers: Iterable[Header]) -> bool:
    """True when DKIM passed and every DKIM signature is by the From address's domain, or
    SPF passed for an envelope sender of that domain; and no DMARC verdict says fail.
    Without Mailgun's verdicts (the spam filter not marking) nothing is verified."""
    by_name: dict[str, list[str]] = {}
    for name, value in headers:
        by_name.setdefault(name.lower(), []).append(value[:MAX_VALUE])
    if any(_DMARC_FAIL.search(v) for v in by_name.get(AUTHENTICATION_RESULTS, [])):
        return False
    from_domain = domain_of(sender)
    signers = [_SIGNING_DOMAIN.search(v) for v in by_name.get(DKIM_SIGNATURE, [])]
    dkim = (
        all_pass(by_name.get(DKIM, []))
        and bool(signers)
        and all(m is not None and is_aligned(m.group(1).lower(), from_domain) for m in signers)
    )
    spf = all_pass(by_name.get(SPF, [])) and is_aligned(domain_of(envelope_sender), from_domain)
    return dkim or spf
