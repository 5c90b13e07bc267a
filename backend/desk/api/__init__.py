"""The ``/api`` routers that read through the subject's scope (``backend.desk.scope``):
cases (``/api/cases``), a station alert as CAP (``/api/alerts``), the fleet
(``/api/devices``) and reports, dead letters and their counts (``/api/reports``,
``/api/counts``, ``/api/dead-letters``). The scope reads the tables of every domain it
filters, so these routers sit with the desk, above those domains; ``backend.api`` mounts
them, and the desk's own routes reuse the case and CAP handlers."""
