"""The periodic jobs (RQ cron, every minute): what the helpdesk does by itself as time
passes. Each is idempotent and bounded, so a second run or two workers running it at
once change nothing more."""

from __future__ import annotations

import logging

from jobs import runtime
from jobs.storms import resume_lost_actions
from ticketcore.models import Ticket

log = logging.getLogger(__name__)


def every_minute() -> dict[str, int]:
    rt = runtime.current()
    done = {"sla_alerts": 0, "incident_actions": 0, "reminders": 0, "resolved": 0, "closed": 0}
    if rt.digest is not None:
        done["digest"] = int(rt.digest.post_if_due(rt.clock()))
    in_force = rt.flows_in_force
    if in_force is None:
        return done
    done["sla_alerts"] = len(rt.service.raise_sla_alerts())
    done["incident_actions"] = resume_lost_actions(rt)
    escalation = in_force.escalation
    done["reminders"] = len(
        rt.service.repeat_escalations(every=escalation.repeat_every, limit=escalation.max_repeats)
    )
    autoclose = in_force.autoclose
    if autoclose.enabled:

        def notice(ticket: Ticket) -> str | None:
            macro = rt.macros.get(autoclose.notice_macro) if autoclose.notice_macro else None
            return macro.text_for(ticket.player.language) if macro else None

        resolved, closed = rt.service.auto_close(
            answered_after=autoclose.answered_after,
            resolved_after=autoclose.resolved_after,
            notice=notice,
        )
        done["resolved"], done["closed"] = len(resolved), len(closed)
    if any(done.values()):
        log.info("periodic: %s", done)
    return done
