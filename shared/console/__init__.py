"""The analysts' console (the seed's "AI Control Hub"): auth, actions, audit, pages.

`service` holds the use cases on ports, `auth` the identity checks, `web` the HTTP routes and
pages that functions/console/main.py serves.
"""

__all__: list[str] = []
