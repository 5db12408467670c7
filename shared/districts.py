"""District names: one table, the official name out, every common form in.

People write 朝阳, 朝阳区 or 北京市朝阳区; the 2018 training plan's own quota table
says 北京经济技术开发区 where everyone else says 经开区 or 亦庄. A district compared
as free text would make a regulator of 朝阳区 blind to units filed under 朝阳. So
every district a caller gives is mapped through this table to its official name,
which is what is stored, compared and answered.

The table is per agency (``AGENCY_DISTRICTS``); an agency whose table is not here
keeps names as given (trimmed), so a new agency is not locked out before its table
is added.
"""
from __future__ import annotations

from marshmallow import ValidationError, fields

# Official name -> other names in common use. Beijing: 16 districts and the economic-
# technological development area, as in the 2018 training plan's quota table.
BEIJING = {
    "东城区": ["东城"],
    "西城区": ["西城"],
    "朝阳区": ["朝阳"],
    "海淀区": ["海淀"],
    "丰台区": ["丰台"],
    "石景山区": ["石景山"],
    "门头沟区": ["门头沟"],
    "房山区": ["房山"],
    "通州区": ["通州"],
    "顺义区": ["顺义"],
    "大兴区": ["大兴"],
    "昌平区": ["昌平"],
    "平谷区": ["平谷"],
    "怀柔区": ["怀柔"],
    "密云区": ["密云"],
    "延庆区": ["延庆"],
    "北京经济技术开发区": ["经开区", "经济技术开发区", "北京经开区", "亦庄", "亦庄开发区", "北京亦庄"],
}

AGENCY_DISTRICTS: dict[str, dict[str, list[str]]] = {"beijing": BEIJING}
_CITY_PREFIXES = ("北京市", "北京")


def _lookup(table: dict[str, list[str]]) -> dict[str, str]:
    index = {}
    for official, aliases in table.items():
        for name in (official, *aliases):
            index[name] = official
    return index


_INDEX = {agency: _lookup(table) for agency, table in AGENCY_DISTRICTS.items()}


def has_table(agency: str) -> bool:
    return agency in _INDEX


def official_names(agency: str) -> list[str]:
    return list(AGENCY_DISTRICTS.get(agency, {}))


def official_district(name: str, agency: str | None = None) -> str:
    """The official name of a district, from any common form; ``ValueError`` when unknown."""
    if not isinstance(name, str):
        raise ValueError("must be a district name")
    text = "".join(name.split())
    agency = agency or _deployment_agency
    index = _INDEX.get(agency)
    if index is None:
        if not text:
            raise ValueError("must be a district name")
        return text
    if text in index:
        return index[text]
    for prefix in _CITY_PREFIXES:
        if text.startswith(prefix) and text[len(prefix):] in index:
            return index[text[len(prefix):]]
    raise ValueError(f"{name!r} is not a district of {agency}; one of: {', '.join(official_names(agency))}")


def official_or_none(name: str | None, agency: str | None = None) -> str | None:
    """Like ``official_district`` but an unknown name stays as given (for stored legacy rows)."""
    if name is None:
        return None
    try:
        return official_district(name, agency)
    except ValueError:
        return name


def binding_district(name: str, agency: str | None = None) -> str:
    """The district a token or console account is bound to: official when the table knows it.

    A name the table does not know is kept as given (trimmed), as risk tracking keeps it: a
    regulator of Nanhai's 南海区 must be able to hold a token in a deployment that serves it.
    Blank is refused."""
    text = "".join((name or "").split())
    if not text:
        raise ValueError("must be a district name")
    return official_or_none(text, agency)


_deployment_agency = "beijing"


def configure_agency(agency: str) -> None:
    """The agency this process serves: whose table ``District`` fields use."""
    global _deployment_agency
    _deployment_agency = agency


class District(fields.String):
    """A district given in any common form, loaded as its official name (this deployment's table).

    ``lenient``: a name the table does not know is kept as given (trimmed) instead of refused.
    Risk tracking uses it: insured enterprises sit in towns and districts of any agency (Nanhai's
    seed is not Beijing's), but a Beijing district written 朝阳 must still meet a regulator of 朝阳区.
    """

    def __init__(self, *args, lenient: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.lenient = lenient

    @property
    def openapi(self) -> dict:
        """What this field takes, as JSON Schema (the gateway's OpenAPI document states it).

        The official names of the deployment's table (other common forms are accepted and
        loaded as these); a lenient field, or an agency without a table, takes any name.
        """
        if self.lenient or not has_table(_deployment_agency):
            return {"minLength": 1, "maxLength": 40, "pattern": r"\S"}
        return {"enum": official_names(_deployment_agency)}

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > 40:
            raise ValidationError("must be at most 40 characters")
        if self.lenient:
            trimmed = "".join(text.split())
            if not trimmed:
                raise ValidationError("must be a district name")
            return official_or_none(trimmed, _deployment_agency)
        try:
            return official_district(text, _deployment_agency)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


def rewrite_stored_names(op, table: str, column: str, has_agency: bool = True) -> None:
    """A data migration: every common form stored in ``table.column`` becomes the official name.

    Rows of tables without an agency column are read with the Beijing table (the only
    agency with one). Not reversed on downgrade: the short forms carried no information.
    """
    from sqlalchemy import text

    for agency, districts in AGENCY_DISTRICTS.items():
        if not has_agency and agency != "beijing":
            continue
        for official, aliases in districts.items():
            names = {*aliases, *(p + n for p in _CITY_PREFIXES for n in (official, *aliases))}
            where = f"{column} IN ({', '.join(f':n{i}' for i in range(len(names)))})"
            params = {f"n{i}": n for i, n in enumerate(sorted(names))}
            if has_agency:
                where += " AND agency_id = :agency"
                params["agency"] = agency
            op.execute(text(f"UPDATE {table} SET {column} = :official WHERE {where}").bindparams(
                official=official, **params))
