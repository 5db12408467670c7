"""Webhooks for integrators: signed deliveries of every service's events, and the event feed."""
