"""Task logs: the deprecated full-log chunks (reference §2.4), read-only over Eve."""
