"""``python -m backend.worker``: the ingest worker (see backend.messaging)."""

from backend.messaging.worker import Worker, alerting_config, main

__all__ = ["Worker", "alerting_config", "main"]

if __name__ == "__main__":
    main()
