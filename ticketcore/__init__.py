"""The ticket core: models, lifecycle, storage, outbox and the TicketService.

Knows nothing of Slack, Telegram, HTTP or the job queue; those live at the edges.
"""
