"""The ``shipyard`` command line: one typer sub-app per noun (``experiments``, ``runs``).

The CLI talks to Shipyard only through :class:`shipyard.sdk.client.Client`; the store in use is
the one the settings name (``SHIPYARD_TRACKING_URI``, ``SHIPYARD_HOME``). See ``docs/cli.md``.
"""
