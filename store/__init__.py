"""The truth: tables, sessions, the unit of work, the outbox, sealed-at-rest secrets."""
