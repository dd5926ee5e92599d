"""The push pipeline (SPEC 3): the endpoints, reading a body into records and issues, and
applying the records in one transaction with the push log. No HTTP here: routes/push.py is the
HTTP side."""
