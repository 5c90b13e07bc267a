"""The worker: one MQTT connection it owns, a topic -> handler table, one policy for every
handler (bounded batches, one transaction, dead-letter or quarantine what fails, publish and
acknowledge only after the commit), health and metrics.

``connection`` owns the paho client and its reconnection; ``policy`` is the
transaction-and-retry policy; ``handlers`` maps topics to domain services; ``positions`` is
the volunteer positions' lane; ``publisher`` hands the alert outbox to the delivery
channels; ``health`` serves /readyz, /healthz and /metrics; ``worker`` wires them, bounds
what is taken in (its inbox) and runs the ticker.
"""
