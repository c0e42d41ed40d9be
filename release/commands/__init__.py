"""One module per command; each exposes `run(settings, args) -> int`."""
