"""Database access: the engine factory, the base model, bulk inserts and the unit of work."""

from parlay.lib.db.base import Base, UTCDateTime
from parlay.lib.db.engine import Database, to_async_url

__all__ = ["Base", "Database", "UTCDateTime", "to_async_url"]
