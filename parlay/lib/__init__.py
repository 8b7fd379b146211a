"""Infrastructure that knows no product rule: the clock, errors, the database, live events,
rate limiting, HTTP clients, idempotency, logs and metrics, and the text and phone rules every
domain applies. Nothing here imports a product package."""
