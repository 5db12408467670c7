import pytest
from marshmallow import Schema, ValidationError

from shared import districts
from shared.districts import District, official_district, official_or_none


@pytest.mark.parametrize("given, official", [
    ("朝阳", "朝阳区"), ("朝阳区", "朝阳区"), ("北京市朝阳区", "朝阳区"), (" 朝 阳 区 ", "朝阳区"),
    ("经开区", "北京经济技术开发区"), ("北京经济技术开发区", "北京经济技术开发区"), ("亦庄", "北京经济技术开发区"),
    ("北京亦庄", "北京经济技术开发区"), ("延庆", "延庆区"),
])
def test_every_common_form_gives_the_official_name(given, official):
    assert official_district(given, "beijing") == official


def test_the_beijing_table_is_the_2018_quota_table():
    # 16 districts and the development area, as in the 2018 training plan.
    assert len(districts.official_names("beijing")) == 17
    assert districts.official_names("beijing")[-1] == "北京经济技术开发区"


@pytest.mark.parametrize("given", ["朝阳县", "上海市黄浦区", "", "区"])
def test_unknown_names_are_refused_with_the_choices(given):
    with pytest.raises(ValueError) as excinfo:
        official_district(given, "beijing")
    assert "东城区" in str(excinfo.value)


def test_an_agency_without_a_table_keeps_names_as_given():
    assert official_district(" 桂城街道 ", "nanhai") == "桂城街道"
    with pytest.raises(ValueError):
        official_district("  ", "nanhai")


def test_official_or_none_keeps_unknown_stored_values():
    assert official_or_none(None) is None
    assert official_or_none("海淀") == "海淀区"
    assert official_or_none("旧地名") == "旧地名"


class _Form(Schema):
    district = District(required=True)


def test_district_field_loads_the_official_name():
    assert _Form().load({"district": "朝阳"}) == {"district": "朝阳区"}
    with pytest.raises(ValidationError) as excinfo:
        _Form().load({"district": "火星"})
    assert "is not a district of beijing" in excinfo.value.messages["district"][0]
    with pytest.raises(ValidationError):
        _Form().load({"district": "朝" * 41})


def test_a_lenient_district_keeps_unknown_names_and_maps_known_ones():
    """Risk tracking serves agencies beyond Beijing's table: their districts are kept as given."""
    from marshmallow import Schema, ValidationError

    from shared.districts import District

    class Place(Schema):
        district = District(lenient=True, required=True)

    assert Place().load({"district": " 朝阳 "}) == {"district": "朝阳区"}
    assert Place().load({"district": "北京市经开区"}) == {"district": "北京经济技术开发区"}
    assert Place().load({"district": "南海区"}) == {"district": "南海区"}
    for bad in ("", "   ", "区" * 41):
        try:
            Place().load({"district": bad})
        except ValidationError as exc:
            assert "district" in exc.messages
        else:
            raise AssertionError(f"{bad!r} was accepted")


def test_a_binding_district_is_official_when_known_and_kept_when_not():
    from shared.districts import binding_district

    assert binding_district(" 朝阳 ", "beijing") == "朝阳区"
    assert binding_district("亦庄", "beijing") == "北京经济技术开发区"
    assert binding_district("南海区", "beijing") == "南海区"
    for blank in ("", "  ", None):
        with pytest.raises(ValueError):
            binding_district(blank, "beijing")
