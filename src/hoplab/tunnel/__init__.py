"""The tunnel: local forwards, the readiness probe, and how the node is reached."""
