"""Hostile payloads at volume through the real broker to the real worker.

``python -m tests.system.fuzz --count 100000`` (``make fuzz``) prints the table; ``test_fuzz.py``
runs 5,000 payloads in ``make test``.
"""
