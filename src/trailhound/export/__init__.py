"""Findings out as they happen: EventBridge's envelope to a webhook, or JSON lines to a file or stdout."""
