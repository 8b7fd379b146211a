"""Outbound HTTP: the one client factory (httpx) and the HTTP/2 connection the push clients use."""
