"""Background work on RQ: delivering owed effects, sweeping for lost ones, periodic tasks."""
