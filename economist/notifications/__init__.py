"""Notifications: economist's webhook notifier (oco.notify), its delivery log API and the anomaly alerts."""
