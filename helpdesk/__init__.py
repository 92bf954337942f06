"""The helpdesk program: its settings, the services it connects to, how its parts are
wired, and its commands (`app.py` is the command line over them)."""
