"""Browser sessions: short-lived credentials that stand for an API key."""
