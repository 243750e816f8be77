"""Entry points: the HTTP API, the `reglink` CLI, settings and the composition root."""
