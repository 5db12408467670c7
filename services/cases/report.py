"""The case report and its format checks (seed 001 附件二). Pure: bytes in, findings out.

Character counting (字数). One rule everywhere, shown to submitters, close to what
Word's 字数统计 reports for Chinese text:
- each CJK ideograph counts 1;
- each full-width punctuation mark or symbol (。，、；：？！“”‘’（）《》【】—…· and the
  U+3000–U+303F / U+FF00–U+FFEF blocks) counts 1;
- each unbroken run of Latin letters and/or digits counts 1 ("AQ9010" is 1, "2023年" is 2,
  "2,000" is 2: the comma breaks the run);
- whitespace and half-width punctuation count 0.

Strength of a rule follows the seed's wording: "不少于 / 以内 / 不超过 / 至少" are hard
limits, inclusive, and refuse a submission; "不宜" and "尽量不要" are warnings shown to the
submitter and the screening operator, never a refusal.

Structure of a report: the first non-empty paragraph is the title; a paragraph starting
with "——" names the organisation; the paragraphs under a heading containing "单位简介"
(or "简介") up to the first body section are the profile; the body runs from the first
of the three body sections to the end, stopping at a heading "附件". The three sections are
the first-level headings containing 背景 (background), 做法 (practices) and 效果/成效/成果
(results); a section runs to the next first-level heading. Headings count in the body.

Heading levels: "一、" is level 1, "（一）" level 2, "1." / "1、" / "1．" level 3,
"（1）" level 4, "①" level 5; Word's "Heading N" styles count as level N.
"""
from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

HARD, WARNING = "hard", "warning"
PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"

TITLE_MAX = 20
PROFILE_MIN, PROFILE_MAX = 300, 400
BODY_MIN = 3000
PRACTICES_MIN = 2000
PRACTICES_SHARE_MIN = Decimal(70)
HEADING_LEVELS_MAX = 3
PHOTOS_MIN = 2
DPI_MIN = 300
SUMMARY_MAX = 800
PDF_SIMILARITY_MIN = Decimal("0.90")
FIRST_PERSON = ("我们", "我单位", "我司")

EMU_PER_INCH = 914400

_FULLWIDTH_EXTRA = set("“”‘’—…·")


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return (0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0x20000 <= o <= 0x2FA1F
            or 0xF900 <= o <= 0xFAFF)


def _is_fullwidth_mark(ch: str) -> bool:
    o = ord(ch)
    return 0x3000 < o <= 0x303F or 0xFF01 <= o <= 0xFFEF or ch in _FULLWIDTH_EXTRA


def _is_latin_or_digit(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def count_chars(text: str) -> int:
    """字数 by the rule in the module docstring."""
    total = 0
    in_run = False
    for ch in text or "":
        if _is_latin_or_digit(ch):
            if not in_run:
                total += 1
                in_run = True
            continue
        in_run = False
        if _is_cjk(ch) or _is_fullwidth_mark(ch):
            total += 1
    return total


# ---- heading levels ---------------------------------------------------------------------------

_CN_NUM = "一二三四五六七八九十百"
_LEVEL_PATTERNS = (
    (1, re.compile(rf"^[{_CN_NUM}]+、")),
    (2, re.compile(rf"^[（(][{_CN_NUM}]+[)）]")),
    (4, re.compile(r"^[（(]\d+[)）]")),
    (3, re.compile(r"^\d+[\.．、](?!\d)")),
    (5, re.compile(r"^[①②③④⑤⑥⑦⑧⑨⑩]")),
)
_HEADING_MAX_CHARS = 40  # a numbered line longer than this is a list item in running text


def heading_level(text: str, style: str | None = None) -> int | None:
    text = (text or "").strip()
    if style:
        m = re.match(r"^(?:Heading|标题)\s*(\d)$", style.strip())
        if m:
            return int(m.group(1))
    if not text or count_chars(text) > _HEADING_MAX_CHARS:
        return None
    for level, pattern in _LEVEL_PATTERNS:
        if pattern.match(text):
            return level
    return None


# ---- reading files ----------------------------------------------------------------------------

class UnreadableFile(ValueError):
    """A file that is not what it claims: the message says so in Chinese."""

    def __init__(self, message: str, rule: str):
        super().__init__(message)
        self.rule = rule


def is_legacy_doc(data: bytes) -> bool:
    import olefile
    return bool(data) and olefile.isOleFile(data=data)


@dataclass
class Paragraph:
    text: str
    level: int | None


@dataclass
class EmbeddedImage:
    name: str
    dpi: Decimal | None        # the lower of horizontal and vertical, None when unknown


@dataclass
class DocxReport:
    paragraphs: list[Paragraph]
    images: list[EmbeddedImage] = field(default_factory=list)
    pages: list[tuple[int, int]] = field(default_factory=list)     # (width, height) in mm, per section

    @property
    def text(self) -> str:
        return "\n".join(p.text for p in self.paragraphs)


def read_docx(data: bytes) -> DocxReport:
    if is_legacy_doc(data):
        raise UnreadableFile("文件为旧版 Word（.doc）格式，无法检查；请另存为 .docx 后重新上传", "legacy_doc")
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise UnreadableFile("文件不是有效的 Word（.docx）文档，无法读取", "unreadable_file")
    try:
        import docx
        document = docx.Document(io.BytesIO(data))
        paragraphs = []
        for p in document.paragraphs:
            text = p.text.strip()
            if text:
                style = p.style.name if p.style is not None else None
                paragraphs.append(Paragraph(text, heading_level(text, style)))
        for table in document.tables:  # tables are part of the text Word counts
            for row in table.rows:
                for cell in row.cells:
                    if cell.text.strip():
                        paragraphs.append(Paragraph(cell.text.strip(), None))
        images = _docx_images(document)
        pages = [(round(int(s.page_width) / 36000), round(int(s.page_height) / 36000))
                 for s in document.sections if s.page_width and s.page_height]
    except UnreadableFile:
        raise
    except Exception as exc:  # python-docx raises many kinds on a damaged package
        raise UnreadableFile(f"Word 文档已损坏或无法解析（{type(exc).__name__}）", "unreadable_file") from None
    return DocxReport(paragraphs, images, pages)


def _docx_images(document) -> list[EmbeddedImage]:
    """Effective resolution of each inline picture: its pixels ÷ the size it is shown at."""
    from PIL import Image
    found = []
    for n, shape in enumerate(document.inline_shapes, start=1):
        name = f"文中图片{n}"
        try:
            blip = shape._inline.graphic.graphicData.pic.blipFill.blip
            blob = document.part.related_parts[blip.embed].blob
            with Image.open(io.BytesIO(blob)) as img:
                px_w, px_h = img.size
            in_w, in_h = Decimal(int(shape.width)) / EMU_PER_INCH, Decimal(int(shape.height)) / EMU_PER_INCH
            dpi = min(Decimal(px_w) / in_w, Decimal(px_h) / in_h) if in_w > 0 and in_h > 0 else None
        except Exception:  # a linked or odd picture: unknown, never passed
            dpi = None
        found.append(EmbeddedImage(name, dpi))
    return found


def read_pdf_text(data: bytes) -> str:
    if not data.startswith(b"%PDF-"):
        raise UnreadableFile("文件不是 PDF 文档", "unreadable_file")
    try:
        from pdfminer.high_level import extract_text
        return extract_text(io.BytesIO(data))
    except Exception as exc:
        raise UnreadableFile(f"PDF 文档已损坏或无法解析（{type(exc).__name__}）", "unreadable_file") from None


@dataclass(frozen=True)
class ImageInfo:
    format: str            # JPEG / PNG
    width: int
    height: int
    dpi: Decimal | None    # None: the file states no density


def read_image(data: bytes) -> ImageInfo:
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
        with Image.open(io.BytesIO(data)) as img:
            dpi = img.info.get("dpi")
            value = None
            if dpi and len(dpi) == 2 and dpi[0] and dpi[1]:
                value = Decimal(str(min(float(dpi[0]), float(dpi[1])))).quantize(Decimal(1), ROUND_HALF_UP)
                if value <= 1:  # JFIF "aspect ratio only" (density 1:1): no resolution stated
                    value = None
            return ImageInfo(img.format or "", img.size[0], img.size[1], value)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise UnreadableFile(f"图片无法读取（{type(exc).__name__}）", "unreadable_file") from None


# ---- structure --------------------------------------------------------------------------------

SECTION_KEYS = {
    "background": ("背景",),
    "practices": ("做法",),
    "results": ("效果", "成效", "成果"),
}
SECTION_LABELS = {"background": "实施背景", "practices": "主要做法", "results": "实施效果"}


@dataclass
class Structure:
    title: str
    organisation_line: str
    profile: str
    body: str
    sections: dict[str, str]          # key -> text of the section (heading included)
    deepest_level: int
    levels_used: list[int]
    full_text: str


def analyse(report: DocxReport) -> Structure:
    paras = report.paragraphs
    title = paras[0].text if paras else ""
    org_line = next((p.text.lstrip("—-– ").strip() for p in paras[:4] if p.text.startswith(("——", "--", "—"))), "")
    first_section = None
    for i, p in enumerate(paras):
        if p.level == 1 and _section_of(p.text):
            first_section = i
            break
    profile_start = next((i for i, p in enumerate(paras) if "简介" in p.text and count_chars(p.text) <= 12), None)
    profile = ""
    if profile_start is not None:
        end = first_section if first_section is not None and first_section > profile_start else len(paras)
        profile = "\n".join(p.text for p in paras[profile_start + 1:end])
    body_paras = []
    sections: dict[str, list[str]] = {}
    current = None
    if first_section is not None:
        for p in paras[first_section:]:
            if p.level is not None and p.level <= 1 or count_chars(p.text) <= 12:
                if p.text.strip().lstrip(_CN_NUM + "、 ").startswith("附件"):
                    break  # attachments are not part of the body
            if p.level == 1:
                current = _section_of(p.text)
                if current in sections:
                    current = None  # a second heading of the same kind is extra text of the body
            body_paras.append(p.text)
            if current:
                sections.setdefault(current, []).append(p.text)
    levels = sorted({p.level for p in paras if p.level})
    return Structure(
        title=title, organisation_line=org_line, profile=profile, body="\n".join(body_paras),
        sections={k: "\n".join(v) for k, v in sections.items()},
        deepest_level=max(levels) if levels else 0, levels_used=levels, full_text=report.text,
    )


def _section_of(heading: str) -> str | None:
    for key, words in SECTION_KEYS.items():
        if any(w in heading for w in words):
            return key
    return None


# ---- the checks -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Finding:
    rule: str
    kind: str          # hard | warning
    outcome: str       # pass | fail | unknown
    measured: str      # the figure, as shown
    message: str       # Chinese, with the figure and the requirement

    @property
    def refuses(self) -> bool:
        return self.kind == HARD and self.outcome != PASS


def _f(rule, kind, ok, measured, message) -> Finding:
    return Finding(rule, kind, PASS if ok else FAIL, str(measured), message)


def fmt_int(n: int) -> str:
    return f"{n:,}"


def percent(part: int, whole: int) -> Decimal:
    if not whole:
        return Decimal(0)
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass
class Submission:
    """What the checks look at: the files' content and the form's names."""
    docx: bytes | None = None
    pdf: bytes | None = None
    photos: list[tuple[str, bytes]] = field(default_factory=list)   # (caption = file name, data)
    charts: list[tuple[str, bytes]] = field(default_factory=list)
    organisation_names: list[str] = field(default_factory=list)      # full name, short name
    person_names: list[str] = field(default_factory=list)            # creators and participants
    summary: str | None = None


def check(sub: Submission) -> list[Finding]:
    """Every rule at once; a rule that cannot be measured says why instead of passing."""
    out: list[Finding] = []
    if sub.summary is not None:
        n = count_chars(sub.summary)
        out.append(_f("summary_length", HARD, n <= SUMMARY_MAX, n,
                      f"案例简介 {fmt_int(n)} 字；要求 {SUMMARY_MAX} 字以内"))
    out.append(_f("report_files", HARD, sub.docx is not None and sub.pdf is not None,
                  "+".join(k for k, v in (("docx", sub.docx), ("pdf", sub.pdf)) if v is not None) or "none",
                  "案例报告须同时提供 Word（.docx）和 PDF 两种格式；" + _missing_files(sub)))
    structure, images, pages = None, None, None
    if sub.docx is not None:
        try:
            parsed = read_docx(sub.docx)
            structure, images, pages = analyse(parsed), parsed.images, parsed.pages
        except UnreadableFile as exc:
            out.append(Finding(exc.rule, HARD, FAIL, "-", f"案例报告（Word）：{exc}"))
    if structure is not None:
        out.extend(_text_checks(structure, sub))
        out.append(_page_check(pages))
    pdf_text = None
    if sub.pdf is not None:
        try:
            pdf_text = read_pdf_text(sub.pdf)
        except UnreadableFile as exc:
            out.append(Finding("pdf_readable", HARD, FAIL, "-", f"案例报告（PDF）：{exc}"))
    if structure is not None and pdf_text is not None:
        sim = similarity(structure.full_text, pdf_text)
        out.append(_f("pdf_matches_docx", WARNING, sim >= PDF_SIMILARITY_MIN, f"{sim * 100:.1f}%",
                      f"PDF 与 Word 文本相似度 {sim * 100:.1f}%；不宜低于 {PDF_SIMILARITY_MIN * 100:.0f}%"
                      "（两份文件应为同一版本）"))
    out.extend(_photo_checks(sub, images))
    return out


def _missing_files(sub) -> str:
    missing = [name for name, v in (("Word", sub.docx), ("PDF", sub.pdf)) if v is None]
    return f"缺少 {'、'.join(missing)}" if missing else "均已提供"


def _text_checks(s: Structure, sub: Submission) -> list[Finding]:
    out = []
    n_title = count_chars(s.title)
    out.append(_f("title_length", HARD, 0 < n_title <= TITLE_MAX, n_title,
                  f"题目“{s.title[:30]}”{n_title} 字；要求 {TITLE_MAX} 字以内"))
    if sub.organisation_names:
        full = sub.organisation_names[0]
        line = s.organisation_line
        out.append(_f("organisation_line", WARNING, line == full, line or "-",
                      f"题目后应为申报单位全称“——{full}”" + (f"；报告中为“——{line}”" if line and line != full
                                                           else "" if line else "；未找到")))
    names = [n for n in (*sub.organisation_names, *sub.person_names) if n and n.strip()]
    hits = [n for n in names if n.strip() in s.title]
    out.append(_f("title_no_names", HARD, not hits, len(hits),
                  "题目中不得出现申报单位名称（含简称）或案例参与人姓名" + (f"；发现：{'、'.join(hits)}" if hits else "")))
    n_profile = count_chars(s.profile)
    out.append(_f("profile_length", HARD, PROFILE_MIN <= n_profile <= PROFILE_MAX, n_profile,
                  f"单位简介 {fmt_int(n_profile)} 字；要求 {PROFILE_MIN}~{PROFILE_MAX} 字"
                  + ("（未找到“单位简介”部分）" if not s.profile else "")))
    n_body = count_chars(s.body)
    out.append(_f("body_length", HARD, n_body >= BODY_MIN, n_body,
                  f"正文 {fmt_int(n_body)} 字；要求不少于 {fmt_int(BODY_MIN)} 字"))
    missing = [SECTION_LABELS[k] for k in SECTION_KEYS if k not in s.sections]
    out.append(_f("sections_present", HARD, not missing, 3 - len(missing),
                  "正文须包含实施背景、主要做法、实施效果三部分" + (f"；缺少：{'、'.join(missing)}" if missing else "")))
    n_practices = count_chars(s.sections.get("practices", ""))
    share = percent(n_practices, n_body)
    figure = f"主要做法 {fmt_int(n_practices)} 字，占正文 {share}%"
    out.append(_f("practices_length", HARD, n_practices >= PRACTICES_MIN, n_practices,
                  f"{figure}；要求不少于 {fmt_int(PRACTICES_MIN)} 字"))
    out.append(_f("practices_share", WARNING, share >= PRACTICES_SHARE_MIN, f"{share}%",
                  f"{figure}；不宜低于 {PRACTICES_SHARE_MIN}%"))
    out.append(_f("heading_levels", WARNING, s.deepest_level <= HEADING_LEVELS_MAX, s.deepest_level,
                  f"正文标题层级 {s.deepest_level} 级；尽量不要超过 {HEADING_LEVELS_MAX} 级（“一、（一）、1”样式）"))
    found = {w: s.full_text.count(w) for w in FIRST_PERSON if w in s.full_text}
    total = sum(found.values())
    out.append(_f("third_person", HARD, not found, total,
                  "案例应以第三人称阐述，不要用“我们”“我单位”“我司”"
                  + (f"；发现 {'、'.join(f'“{w}”{c} 处' for w, c in found.items())}" if found else "")))
    return out


A4_MM = (210, 297)


def _page_check(pages: list[tuple[int, int]]) -> Finding:
    """四（四）: "须采用 A4 幅面纵向编辑" — a hard rule; every section's page, 2 mm tolerance."""
    wrong = [f"{w}×{h} mm" for w, h in pages if abs(w - A4_MM[0]) > 2 or abs(h - A4_MM[1]) > 2]
    shown = "、".join(sorted(set(wrong))) if wrong else "A4 纵向"
    return _f("page_a4_portrait", HARD, bool(pages) and not wrong, shown,
              f"Word 版面为 {shown}；须采用 A4 幅面（210×297 mm）纵向编辑")


def _photo_checks(sub: Submission, images: list[EmbeddedImage] | None) -> list[Finding]:
    out = []
    good, unknown, low, broken = [], [], [], []
    for caption, data in sub.photos:
        try:
            info = read_image(data)
        except UnreadableFile:
            broken.append(caption)
            continue
        if info.dpi is None:
            unknown.append(caption)
        elif info.dpi >= DPI_MIN:
            good.append(caption)
        else:
            low.append(f"{caption}（{info.dpi} dpi）")
    detail = []
    if low:
        detail.append(f"分辨率不足：{'、'.join(low)}")
    if unknown:
        detail.append(f"未标注分辨率（无法确认）：{'、'.join(unknown)}")
    if broken:
        detail.append(f"无法读取：{'、'.join(broken)}")
    ok = len(good) >= PHOTOS_MIN
    outcome = PASS if ok else (UNKNOWN if len(good) + len(unknown) >= PHOTOS_MIN else FAIL)
    bare = [c for c, _ in sub.photos if not any(_is_cjk(ch) for ch in c)]
    out.append(_f("photo_captions", WARNING, not bare, len(sub.photos) - len(bare),
                  "照片文件名应为照片的简要说明" + (f"；未见说明：{'、'.join(bare)}" if bare else "")))
    out.append(Finding("photos", HARD, outcome, str(len(good)),
                       f"分辨率不低于 {DPI_MIN}dpi 的照片 {len(good)} 张（共 {len(sub.photos)} 张）；"
                       f"要求至少 {PHOTOS_MIN} 张" + ("；" + "；".join(detail) if detail else "")))
    if images is not None:
        low = [f"{i.name}（{i.dpi.quantize(Decimal(1), ROUND_HALF_UP)} dpi）" for i in images
               if i.dpi is not None and i.dpi < DPI_MIN]
        unknown = [i.name for i in images if i.dpi is None]
        outcome = FAIL if low else (UNKNOWN if unknown else PASS)
        out.append(Finding("report_image_dpi", HARD, outcome, str(len(images)),
                           f"报告中图片 {len(images)} 张，按像素÷版面尺寸计算分辨率；要求不低于 {DPI_MIN}dpi"
                           + (f"；不足：{'、'.join(low)}" if low else "")
                           + (f"；无法确认：{'、'.join(unknown)}" if unknown else "")))
    not_jpg = []
    for caption, data in sub.charts:
        try:
            if read_image(data).format != "JPEG":
                not_jpg.append(caption)
        except UnreadableFile:
            not_jpg.append(caption)
    out.append(_f("charts_jpg", HARD, not not_jpg, len(sub.charts),
                  f"图表图片 {len(sub.charts)} 张，须为 JPG 格式" + (f"；不符：{'、'.join(not_jpg)}" if not_jpg else "")))
    return out


# ---- docx vs pdf ------------------------------------------------------------------------------

def _normalise(text: str) -> str:
    return "".join(ch for ch in text if _is_cjk(ch) or _is_latin_or_digit(ch))


def similarity(a: str, b: str, k: int = 4) -> Decimal:
    """Jaccard similarity of the two texts' k-character shingles (letters, digits, CJK only).

    Layout (line breaks, hyphenation, page headers) does not move it much; a different
    version of the report does. Linear in the length, so a 10-page report is cheap.
    """
    na, nb = _normalise(a), _normalise(b)
    if not na and not nb:
        return Decimal(1)
    sa = {na[i:i + k] for i in range(max(1, len(na) - k + 1))}
    sb = {nb[i:i + k] for i in range(max(1, len(nb) - k + 1))}
    union = len(sa | sb)
    return (Decimal(len(sa & sb)) / Decimal(union)).quantize(Decimal("0.001"), ROUND_HALF_UP) if union else Decimal(1)


def refusals(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.refuses]
