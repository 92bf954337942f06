"""The game studio's own admin API: what the desk asks it about players."""
