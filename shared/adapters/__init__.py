"""One adapter module per backend; the bootstrap picks them from settings."""
