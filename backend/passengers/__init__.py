"""What passengers ask after (or instead of) a report: a kiosk's "call staff" help request,
and a note or photo added to a report a phone sent. Tables and decisions; the worker's
handlers (``backend.messaging.requests``) and the desk call them."""
