"""Seeing every request: structured logs with the request's fields, the request log, tracing."""
