"""Case-report fixtures built with the real libraries: .docx (python-docx), PDF (reportlab), JPG/PNG (Pillow).

Texts are made of CJK characters and full-width punctuation only, so their 字数 equals
their length and every figure a test asserts is known by construction.
"""
from __future__ import annotations

import io

from shared.demo_files import prose as chinese  # exactly n characters (字数 n) of plausible report prose
from shared.demo_files import report_docx, report_pdf


def report_paragraphs(title="风险减量服务新模式", org="北京安全科技有限公司", profile=350, background=500,
                      practices=2400, results=500, extra_levels=0, first_person=False, sections=("背景", "做法", "效果")):
    """(text, style) pairs of a report shaped like 附件二; lengths are 字数 of the prose."""
    paras = [(title, "Title"), (f"——{org}", None), ("单位简介", None), (chinese(profile), None)]
    names = {"背景": "一、实施背景", "做法": "二、主要做法", "效果": "三、实施效果"}
    lengths = {"背景": background, "做法": practices, "效果": results}
    for key in sections:
        paras.append((names[key], None))
        n = lengths[key]
        if key == "做法":
            paras.append(("（一）建立服务机制", None))
            paras.append(("1．组建专家团队", None))
            if extra_levels:
                paras.append(("（1）明确分工", None))
            half = n // 2
            paras.append((chinese(half, 7), None))
            paras.append(("（二）强化过程管理", None))
            paras.append((chinese(n - half, 13), None))
        else:
            paras.append((chinese(n, 3), None))
    if first_person:
        paras.append(("我们将持续改进服务。", None))
    return paras


def build_docx(paragraphs, images=(), page_mm=(210, 297)) -> bytes:
    """(text, style) pairs as a .docx; images after the title (see shared.demo_files.report_docx)."""
    return report_docx([text for text, _ in paragraphs], images, page_mm)


def build_pdf(paragraphs, per_line: int = 36) -> bytes:
    return report_pdf([text for text, _ in paragraphs], per_line)


def photo(dpi=(300, 300), size=(1200, 800), fmt="JPEG", color=(30, 120, 200)) -> bytes:
    from PIL import Image

    img = Image.new("RGB", size, color)
    buf = io.BytesIO()
    if dpi is None:
        img.save(buf, format=fmt)
    else:
        img.save(buf, format=fmt, dpi=dpi)
    return buf.getvalue()


def legacy_doc() -> bytes:
    """A minimal OLE2 compound file, as a Word 97–2003 .doc starts."""
    import olefile  # noqa: F401  (the detector under test)

    header = bytearray(512)
    header[0:8] = bytes.fromhex("D0CF11E0A1B11AE1")
    header[0x18:0x1A] = (0x3E).to_bytes(2, "little")
    header[0x1A:0x1C] = (3).to_bytes(2, "little")
    header[0x1C:0x1E] = (0xFFFE).to_bytes(2, "little")
    header[0x1E:0x20] = (9).to_bytes(2, "little")
    header[0x20:0x22] = (6).to_bytes(2, "little")
    return bytes(header) + bytes(512 * 3)
