"""Who is asking and what they may read, for ``/api`` and the desk alike.

- :mod:`backend.auth.subject`: the subject (a person: role and stations) a bearer token
  stands for, whether the token is a desk session or a per-person API token;
- :mod:`backend.auth.scope`: the one function that turns a subject into the query filter
  of each table (``readable``);
- :mod:`backend.auth.http`: the FastAPI dependencies every router declares.
"""
