"""The store's failures that callers outside `store/` handle themselves."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

# the database is away for now (restarting, unreachable, locked): a polling loop that
# meets it waits and tries again instead of dying
DatabaseUnavailable = OperationalError
