"""The durable, gap-free per-run event log (see :mod:`.log`)."""
