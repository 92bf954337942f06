"""The helpdesk's KPIs over a period, defined in docs/metrics.md: what a report holds
(`model`), the aggregations that compute it from the tickets alone (`pipeline`), running
and folding them (`reporting`), and filling what older tickets lack (`timeline`)."""

from ticketcore.stats.model import (
    AGE_BUCKETS,
    CSAT_ASKED,
    DONE,
    OPEN,
    AgentLoad,
    Backlog,
    DayCount,
    GroupCount,
    Percentiles,
    Period,
    Report,
    SlaCompliance,
    nearest_rank,
    percentiles,
)
from ticketcore.stats.reporting import (
    Stats,
    business_calendar,
    hand_written_first_response_median,
    zone_of,
)

__all__ = [
    "AGE_BUCKETS",
    "CSAT_ASKED",
    "DONE",
    "OPEN",
    "AgentLoad",
    "Backlog",
    "DayCount",
    "GroupCount",
    "Percentiles",
    "Period",
    "Report",
    "SlaCompliance",
    "Stats",
    "business_calendar",
    "hand_written_first_response_median",
    "nearest_rank",
    "percentiles",
    "zone_of",
]
