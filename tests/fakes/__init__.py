"""Fakes of the outside services the helpdesk talks to."""
