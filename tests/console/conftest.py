from tests.client.conftest import live

__all__ = ["live"]
