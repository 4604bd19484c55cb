"""Response cache: answers repeated requests without running the model (docs/cache.md)."""
