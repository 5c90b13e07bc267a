"""``make run``: the whole stack on one machine with demo data (development only).

Lives outside ``backend/`` on purpose: production never imports a supervisor, a demo seed
or a broker-config writer. ``config`` (paths, ports, demo constants), ``broker`` (broker
configuration and accounts), ``seed`` (demo world), ``supervisor`` (processes).
"""
