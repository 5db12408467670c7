"""Test data builders: valid identifiers computed with the standards' own check digits."""
from __future__ import annotations

import itertools

from stdnum.cn import ric, uscc

_serial = itertools.count(100)


def resident_id(region: str = "110101", birth: str = "19900307", gender: str = "male") -> str:
    """A valid GB 11643 number; the 17th digit's parity gives the gender."""
    n = next(_serial)
    seq = f"{(2 * n + (1 if gender == 'male' else 0)) % 1000:03d}"
    # vary the birth day too, so numbers stay unique past 500 per gender
    day = int(birth[6:]) + (n // 500) % 20
    first17 = region + birth[:6] + f"{day:02d}" + seq
    return first17 + ric.calc_check_digit(first17 + "0")


def credit_code(seed: int | None = None) -> str:
    n = next(_serial) if seed is None else seed
    first17 = f"91110000{n:09d}"[:17]
    return first17 + uscc.calc_check_digit(first17)


def candidate_form(cycle: str, id_number: str | None = None, **overrides) -> dict:
    form = {
        "cycle": cycle, "name": "张三", "email": "zhangsan@example.com", "phone": "13812345678",
        "education": "本科", "id_number": id_number or resident_id(), "title": "高级工程师",
        "school_major": "北京理工大学 安全工程", "employer_position": "东城区应急管理局 专职安全员",
        "deeds": "长期从事安全生产宣传工作，组织宣讲20余场。", "recommendation_reason": "表达能力突出，熟悉安责险制度。",
    }
    form.update(overrides)
    return form
