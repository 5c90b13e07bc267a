"""The worker: one MQTT connection it owns, a topic -> handler table, one policy for every
handler (bounded batches, one transaction, dead-letter or quarantine what fails, publish and
acknowledge only after the commit), health and metrics.

``connection`` owns the paho client and its reconnection; ``inbox`` bounds what is taken in;
``policy`` is the transaction-and-retry policy; ``handlers`` maps topics to domain services;
``health`` serves /readyz, /healthz and /metrics; ``worker`` wires them and runs the ticker.
"""
