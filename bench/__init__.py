"""``make bench`` (``python -m bench``): the whole system end to end against the broker's own
QoS 1 ceiling, measured from outside with a C load generator.

A development tool like ``devstack/``: it may import backend, devstack, protocol and
tests.support; production code never imports it.
"""
