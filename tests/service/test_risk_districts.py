"""Risk tracking takes a district in any common form and stores the official name, so an
enterprise filed under 朝阳 is seen by the regulator of 朝阳区; a district outside the agency's
table (Nanhai's 南海区 in a Beijing deployment) is kept as given rather than refused."""
from __future__ import annotations

from tests.support import credit_code

SERVICE = "risk"


def enterprise(district: str) -> dict:
    return {"credit_code": credit_code(), "name": f"{district}某建筑公司", "district": district,
            "town": "某街道", "industry": "建筑施工", "staff_count": 30}


def test_a_district_in_short_form_is_stored_officially_and_fenced_as_such(service):
    staff = service.as_("operator")
    short = staff.register_enterprise(enterprise("朝阳"))
    prefixed = staff.register_enterprise(enterprise("北京市朝阳区"))
    elsewhere = staff.register_enterprise(enterprise("南海区"))
    assert (short["district"], prefixed["district"], elsewhere["district"]) == ("朝阳区", "朝阳区", "南海区")

    regulator = service.as_("regulator", district="朝阳区")
    seen = {e["id"] for e in regulator.list_enterprises({})["items"]}
    assert seen == {short["id"], prefixed["id"]}
    assert regulator.get_enterprise(short["id"])["district"] == "朝阳区"
    # a staff filter in short form finds the same two
    assert {e["id"] for e in staff.list_enterprises({"district": "朝阳"})["items"]} == seen
