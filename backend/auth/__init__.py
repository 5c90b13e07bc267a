"""Who is asking, for ``/api`` and the desk alike.

- :mod:`backend.auth.subject`: the subject (a person: role and stations) a bearer token
  stands for, whether the token is a desk session or a per-person API token;
- :mod:`backend.auth.http`: the FastAPI dependencies every router declares.

What a subject may read (the query filter of each table) reads every domain's tables, so
it sits above them: ``backend.desk.scope.readable``.
"""
