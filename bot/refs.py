"""Names of the references deliveries keep on tickets (Ticket.refs), shared by the
renderers that show them and the jobs that set them."""

SLACK_CARD = "slack_card"  # "<channel>:<ts>" of the ticket's Slack card
SLACK_ALERT = "slack_alert"  # "<channel>:<ts>" of the leads' latest alert about the ticket
TELEGRAM_BLOCKED = "telegram_blocked"  # when the player blocked the bot
TELEGRAM_CSAT_ASKED = "telegram_csat_asked"  # the resolution the CSAT question was sent for
TELEGRAM_OPENED_SENT = "telegram_opened_sent"  # the "request registered" notice left
