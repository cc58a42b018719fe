"""Telling parties from outside the request: the webhook outbox dispatcher."""
