"""Local stand-ins for the cloud services Atende talks to, for development and tests."""
