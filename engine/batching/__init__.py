"""Dynamic batching: concurrent requests to one model role share a forward pass."""
