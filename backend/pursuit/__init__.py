"""Metro-aware pursuit (#22): reports at metro stations linked into trails, the next
stations of a trail predicted (:mod:`geo.pursuit`), and the people there told ahead of the
child through the alert outbox. Runs as its own process, ``python -m backend.pursuit``."""
