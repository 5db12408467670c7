"""Error messages in the client's language (gateway/messages.py): zh-CN by default, English when asked."""
from __future__ import annotations

from gateway.messages import EN, ZH, language, localise


def test_chinese_is_the_default_and_english_only_when_preferred():
    assert language(None) == ZH and language("") == ZH and language("*") == ZH
    assert language("zh-CN,zh;q=0.9,en;q=0.8") == ZH
    assert language("en-US,en;q=0.9") == EN and language("en") == EN
    assert language("en;q=0.5,zh-CN;q=0.9") == ZH
    assert language("fr-FR") == ZH                     # a language we do not have: the default
    assert language("en;q=bogus") == ZH                # junk never fails


def test_a_known_english_message_is_translated_and_the_codes_stay():
    body = {"error": "forbidden", "message": "role 'expert' may not do this (needs one of: admin, operator)"}
    out = localise(body, ZH)
    assert out["message"] == "角色 expert 无权进行此操作（需要：admin, operator）" and out["error"] == "forbidden"
    assert localise(body, EN) == body


def test_an_unknown_english_message_gets_a_chinese_title_and_field_names_with_the_rule_code_kept():
    body = {"error": "rule_violation", "rule": "registration_deadline",
            "message": "registration for cycle X closed at the end of 2022-08-10 (Asia/Shanghai)",
            "fields": {"cycle": ["deadline 2022-08-10 has passed"]}}
    out = localise(body, ZH)
    assert out["message"].startswith("不符合业务规则（规则 registration_deadline）：批次")
    assert "2022-08-10" in out["message"]
    assert (out["rule"], out["fields"]) == (body["rule"], body["fields"])
    plain = localise({"error": "validation_failed", "message": "who sits the exam?"}, ZH)
    assert plain["message"] == "输入有误：who sits the exam?"


def test_a_chinese_message_is_kept_in_chinese_and_composed_in_english_when_asked():
    body = {"error": "rule_violation", "rule": "objection_window", "message": "案例不在公示期内，不受理异议",
            "fields": {"case_id": ["not on public notice"]}}
    assert localise(body, ZH) == body
    english = localise(body, EN)
    assert english["message"] == "Refused by a rule (rule objection_window): fields: case_id"
    assert english["rule"] == "objection_window"


def test_a_bulk_answers_refused_items_are_translated_and_the_rest_kept_as_they_were():
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    from gateway.service import _refused_items_in_language

    def request(accept=None):
        return Request(EnvironBuilder(headers={"Accept-Language": accept} if accept else {}).get_environ())

    def batch():
        return {"applied": 1, "items": [
            {"ok": True, "outcome": "applied", "candidate_id": 7},
            {"ok": False, "status": 403, "error": "forbidden",
             "message": "role 'expert' may not do this (needs one of: admin, operator)"},
            {"ok": False, "status": 409, "error": "conflict", "message": "案例不在公示期内"}]}

    chinese = batch()
    assert _refused_items_in_language(request(), chinese) == ZH
    assert chinese["items"][0] == batch()["items"][0]
    assert chinese["items"][1]["message"] == "角色 expert 无权进行此操作（需要：admin, operator）"
    assert chinese["items"][1]["status"] == 403 and chinese["items"][2] == batch()["items"][2]
    english = batch()
    assert _refused_items_in_language(request("en-US,en;q=0.9"), english) == EN
    assert english["items"][1] == batch()["items"][1]
    assert english["items"][2] == dict(batch()["items"][2], message="Conflicts with an existing record")
    for nothing_refused in ({"applied": 1, "items": [{"ok": True}]}, {"items": "not a list"}, [1, 2], {"total": 0}):
        assert _refused_items_in_language(request("en"), nothing_refused) is None
