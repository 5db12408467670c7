"""Personal data at rest: encrypted, rotated to a new key, invisible across agencies."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from services.registration.models import Base
from services.registration.service import RegistrationService
from shared.auth import Principal
from shared.db import make_engine
from shared.errors import Forbidden
from shared.migrate import rotate_pii
from shared.pii import PiiVault, configure_vault, generate_key
from tests.conftest import ADMIN, INDEX_KEY, PII_KEY, rpc
from tests.support import candidate_form, credit_code, resident_id

pytestmark = pytest.mark.integration


def seed(config):
    person = resident_id()
    with rpc(config, ADMIN) as cluster:
        cluster.registration.create_cycle({"code": "2026", "title": "t", "deadline": "2026-12-31"})
        unit = cluster.registration.create_unit({"name": "东城区应急管理局", "kind": "district_safety_office",
                                                 "district": "东城", "contact_phone": "13911112222"})
        cand = cluster.registration.register_candidate(candidate_form("2026", person, unit_id=unit["id"]))
        cluster.registration.load_district_quotas({"year": 2018})
        cluster.registration.enrol({"year": 2018, "role": "principal",
                                    "unit": {"name": "x", "credit_code": credit_code(), "staff_count": 20,
                                             "operating_district": "东城"},
                                    "person": {"name": "赵六", "id_number": resident_id(), "phone": "13700001111"}})
    return person, cand


def raw_tokens(uri):
    engine = make_engine(uri)
    with engine.connect() as conn:
        tokens = [conn.execute(text("SELECT id_number, phone FROM candidates")).one(),
                  conn.execute(text("SELECT person_id_number, person_phone FROM enrolments")).one(),
                  conn.execute(text("SELECT contact_phone FROM units")).one()]
    engine.dispose()
    return [t for row in tokens for t in row]


def test_rotation_moves_every_encrypted_value_to_the_new_key(databases, base_config, runners):
    uri = databases.migrated("registration")
    config = base_config(uri)
    runners(config, RegistrationService)
    person, cand = seed(config)
    before = raw_tokens(uri)
    assert all(t and "1101" not in t and "139" not in t for t in before), "stored encrypted"

    new_key = generate_key()
    rotating = PiiVault([new_key, PII_KEY], INDEX_KEY)
    assert rotate_pii(Base.metadata, uri, rotating) == 3
    assert rotate_pii(Base.metadata, uri, rotating) == 0, "a second run finds nothing left"

    only_new = PiiVault([new_key], INDEX_KEY)
    after = raw_tokens(uri)
    assert [only_new.decrypt(t) for t in after[:2]] == [person, "13812345678"]
    assert all(not only_new.needs_rotation(t) for t in after)


def test_the_service_reads_rotated_data_with_only_the_new_key(databases, base_config, runners):
    uri = databases.migrated("registration")
    old = base_config(uri)
    first = runners(old, RegistrationService)
    person, cand = seed(old)
    first.kill()
    new_key = generate_key()
    rotate_pii(Base.metadata, uri, PiiVault([new_key, PII_KEY], INDEX_KEY))
    try:
        config = base_config(uri, PII_KEYS=new_key)
        runners(config, RegistrationService)
        with rpc(config, ADMIN) as cluster:
            assert cluster.registration.reveal_identity(cand["id"])["id_number"] == person
    finally:
        configure_vault(PiiVault([PII_KEY], INDEX_KEY))


def test_another_agency_sees_nothing_at_the_service(databases, base_config, runners):
    uri = databases.migrated("registration")
    config = base_config(uri)
    runners(config, RegistrationService)
    _, cand = seed(config)
    foreign = Principal(role="admin", agency="foshan", name="foshan-admin")
    with rpc(config, foreign) as cluster:
        for call in (lambda: cluster.registration.list_cycles(),
                     lambda: cluster.registration.list_candidates({}),
                     lambda: cluster.registration.get_candidate(cand["id"]),
                     lambda: cluster.registration.reveal_identity(cand["id"]),
                     lambda: cluster.registration.quota_report("2026"),
                     lambda: cluster.registration.create_cycle({"code": "F1", "title": "t", "deadline": "2026-12-31"})):
            with pytest.raises(Forbidden, match="foshan"):
                call()
    with rpc(config, ADMIN) as cluster:
        assert [c["code"] for c in cluster.registration.list_cycles()] == ["2026"], "nothing was created"
