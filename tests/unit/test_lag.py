"""The caught-up view: a consumer's inbox set against its source's outbox."""
from datetime import datetime, timezone

from shared.lag import combine, event_type_of

NOW = datetime(2026, 12, 2, 8, 0, 0, tzinfo=timezone.utc)
APPROVED = "wsli.registration.candidate_approved.v1"


def stats(published=10, pending=0, processed=10, oldest_pending=None):
    return {
        "registration": {"service": "registration", "inbox": {}, "subscriptions": [],
                         "outbox": {APPROVED: {"published": published, "pending": pending,
                                               "oldest_pending_at": oldest_pending}}},
        "training": {"service": "training", "outbox": {},
                     "inbox": {"training.on_candidate_approved": {APPROVED: processed}},
                     "subscriptions": [{"handler": "training.on_candidate_approved", "source": "registration",
                                        "event": "candidate_approved"}]},
    }


def test_caught_up_when_everything_published_was_processed():
    report = combine(stats(), lambda *a: None, now=NOW)
    assert report["caught_up"] is True
    (consumer,) = report["consumers"]
    assert consumer == {"handler": "training.on_candidate_approved", "event_type": APPROVED, "source": "registration",
                        "event": "candidate_approved", "published": 10, "processed": 10, "behind": 0,
                        "waiting_in_outbox": 0, "oldest_unprocessed_age_s": None, "status": "caught_up"}


def test_behind_names_the_oldest_unprocessed_event():
    asked = []

    def published_at_of(source, event_type, offset):
        asked.append((source, event_type, offset))
        return "2026-12-02T07:59:30+00:00"

    report = combine(stats(processed=7), published_at_of, now=NOW)
    (consumer,) = report["consumers"]
    assert report["caught_up"] is False and consumer["behind"] == 3 and consumer["status"] == "behind"
    assert asked == [("registration", APPROVED, 7)], "the 8th published event is the first not processed"
    assert consumer["oldest_unprocessed_age_s"] == 30.0


def test_rows_still_in_the_outbox_count_as_not_caught_up():
    report = combine(stats(pending=2, oldest_pending="2026-12-02T07:58:00+00:00"), lambda *a: None, now=NOW)
    assert report["caught_up"] is False
    assert report["outboxes"]["registration"] == {"pending": 2, "oldest_pending_age_s": 120.0}
    assert report["consumers"][0]["oldest_unprocessed_age_s"] == 120.0


def test_a_service_that_did_not_answer_is_named_and_spoils_caught_up():
    partial = stats()
    del partial["registration"]
    report = combine(partial, lambda *a: None, unavailable=["registration"], now=NOW)
    assert report["caught_up"] is False and report["unavailable"] == ["registration"]
    assert report["consumers"][0]["status"] == "unknown"


def test_event_types_follow_the_routing_key_versions():
    assert event_type_of("registration", "candidate_approved") == APPROVED
    assert event_type_of("scoring", "candidate_advanced_v2") == "wsli.scoring.candidate_advanced.v2"
