"""Atende's domain, use cases, ports and adapters, shared by every Cloud Function."""
