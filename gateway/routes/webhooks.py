"""Routes of the webhooks service: integrators' endpoints, delivery log, replay, the event feed."""
from __future__ import annotations

from services.webhooks import schemas as wh

from services.webhooks.roles import MANAGERS

from . import Route

S = "webhooks"
BASE = "/api/v1/webhooks"

ROUTES: list[Route] = [
    Route("POST", f"{BASE}/endpoints", S, "create_endpoint",
          "Register an endpoint: URL, event types (service, event, version; * wildcards), description. "
          "The answer carries the signing secret (whsec_…), shown this once", "webhooks",
          body=wh.EndpointIn, response=wh.EndpointWithSecretOut, status=201, roles=MANAGERS),
    Route("GET", f"{BASE}/endpoints", S, "list_endpoints", "Your endpoints (staff: every endpoint of the agency)",
          "webhooks", response=wh.EndpointOut, many=True, roles=MANAGERS),
    Route("GET", f"{BASE}/endpoints/<endpoint_id>", S, "get_endpoint",
          "One endpoint, with why it was disabled if it was", "webhooks", response=wh.EndpointOut, roles=MANAGERS),
    Route("PATCH", f"{BASE}/endpoints/<endpoint_id>", S, "update_endpoint",
          "Change URL, event types or description; enabled=true re-enables it and its pending deliveries resume",
          "webhooks", body=wh.EndpointPatch, response=wh.EndpointOut, roles=MANAGERS),
    Route("DELETE", f"{BASE}/endpoints/<endpoint_id>", S, "delete_endpoint",
          "Delete an endpoint and its delivery log", "webhooks", response=wh.EndpointOut, roles=MANAGERS),
    Route("POST", f"{BASE}/endpoints/<endpoint_id>/rotate-secret", S, "rotate_secret",
          "A new signing secret (shown once); the old one keeps signing beside it during the grace period",
          "webhooks", body=wh.RotateIn, response=wh.EndpointWithSecretOut, roles=MANAGERS),
    Route("GET", f"{BASE}/endpoints/<endpoint_id>/deliveries", S, "list_deliveries",
          "The endpoint's deliveries, newest first: status, attempts, last answer", "webhooks",
          query=wh.DeliveryQuery, response=wh.DeliveryOut, many=True, roles=MANAGERS),
    Route("POST", f"{BASE}/endpoints/<endpoint_id>/replay", S, "replay_since",
          "Send again every event since a time that the endpoint wants", "webhooks",
          body=wh.ReplaySinceIn, response=wh.ReplayOut, roles=MANAGERS),
    Route("GET", f"{BASE}/deliveries/<delivery_id>", S, "get_delivery",
          "One delivery with every attempt: status code, latency, response excerpt", "webhooks",
          response=wh.DeliveryDetailOut, roles=MANAGERS),
    Route("POST", f"{BASE}/deliveries/<delivery_id>/replay", S, "replay_delivery",
          "Send one delivery again (same webhook-id), with a fresh retry schedule", "webhooks",
          response=wh.ReplayOut, roles=MANAGERS),
    Route("GET", f"{BASE}/event-types", S, "event_types", "The event types an endpoint can ask for", "webhooks",
          response=wh.EventTypeOut, many=True, roles=MANAGERS),
    Route("GET", "/api/v1/events", S, "feed",
          "The agency's events in order, after an opaque cursor (?after=), optionally by type pattern "
          "(?type=wsli.registration.*); at most `limit` (≤500) per page", "webhooks",
          query=wh.FeedQuery, response=wh.FeedOut, roles=MANAGERS),
]
