"""Serving: resolving requests to view versions, reading vectors, and the HTTP server."""
