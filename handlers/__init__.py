"""Edges that turn inbound requests into TicketService calls and answer them fast."""
