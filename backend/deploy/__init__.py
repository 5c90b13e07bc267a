"""The production path outside Docker: ``python -m backend.deploy ...`` (docs/operations.md).

* ``broker``: the production Mosquitto configuration for this machine's ports, paths, bind
  address and plugin, with its files owned so the broker's own user can read them;
* ``database``: the superuser step (owner role, database, PostGIS), migrations as the owner,
  backup, restore and upgrade;
* ``fleet``: kiosks from a CSV, in bulk, on Mosquitto (one control connection) and on EMQX
  (its REST API), one root-only bundle per kiosk; revocation by list;
* ``edge``: the public HTTPS application (``/metrics`` is not on it);
* ``check``: every listener, TLS, accounts, database, worker readiness and desk login.
"""
