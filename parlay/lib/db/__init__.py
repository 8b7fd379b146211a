"""Database access: the engine factory, the base model and migrations."""

from parlay.db.base import Base, UTCDateTime
from parlay.db.engine import Database, to_async_url

__all__ = ["Base", "Database", "UTCDateTime", "to_async_url"]
