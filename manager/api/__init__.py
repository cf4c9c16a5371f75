"""The HTTP API the workers call (reference A.2.2)."""
