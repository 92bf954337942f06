"""Email with players: outgoing mail rendered from templates, incoming mail read and cleaned."""
