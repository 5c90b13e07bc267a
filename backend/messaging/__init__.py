"""The worker: one MQTT connection it owns, a topic -> handler table, one policy for every
message (bounded batches, one transaction, dead-letter or quarantine what fails, publish and
acknowledge only after the commit), health and metrics.

``connection`` owns the paho client and its reconnection; ``policy`` is the
transaction-and-retry policy around the report spine (``backend.pipeline``) and the
handlers; ``handlers`` maps the other topics to domain services; ``positions`` is the
volunteer positions' lane; ``health`` serves /readyz, /healthz and /metrics; ``worker``
wires them, hands receipts to the connection and alert revisions to delivery
(``backend.alerts.delivery``) after the commit, bounds what is taken in (its inbox) and runs
the ticker.
"""
