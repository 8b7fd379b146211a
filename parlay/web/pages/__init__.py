"""One module per page: a router whose routes declare ``page(<permission>)``."""
