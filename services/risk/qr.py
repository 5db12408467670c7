"""The 全安码 as PNG, SVG and a printable one-page PDF label (segno; PDF written directly).

The label is a few lines of text and the code, so the PDF is written by hand: the QR
modules are filled rectangles (vector, sharp at any print size) and the text uses
the standard CID font STSong-Light (UniGB-UCS2-H), which readers provide without an
embedded font file, so Chinese renders everywhere.
"""
from __future__ import annotations

import io

import segno

LABEL_W, LABEL_H = 298, 420  # A6 in points: a label to stick at the gate


def png(url: str, scale: int = 8) -> bytes:
    buf = io.BytesIO()
    segno.make(url, error="m", micro=False).save(buf, kind="png", scale=scale, border=4)
    return buf.getvalue()


def svg(url: str, scale: int = 8) -> bytes:
    buf = io.BytesIO()
    segno.make(url, error="m", micro=False).save(buf, kind="svg", scale=scale, border=4, xmldecl=True)
    return buf.getvalue()


def _hex(text: str) -> str:
    return "<" + "".join(f"{ord(ch):04X}" for ch in text if ord(ch) < 0x10000) + ">"


def _qr_ops(url: str, x0: float, y0: float, size: float) -> str:
    matrix = segno.make(url, error="m", micro=False).matrix
    n = len(matrix)
    cell = size / n
    ops = ["0 0 0 rg"]
    for r, row in enumerate(matrix):
        c = 0
        while c < n:  # one rectangle per run of dark modules keeps the file small
            if row[c]:
                start = c
                while c < n and row[c]:
                    c += 1
                ops.append(f"{x0 + start * cell:.2f} {y0 + size - (r + 1) * cell:.2f} {(c - start) * cell:.2f} "
                           f"{cell:.2f} re")
            else:
                c += 1
    ops.append("f")
    return "\n".join(ops)


def label_pdf(title: str, name: str, hint: str, url: str) -> bytes:
    text = ["BT",
            f"/F1 20 Tf 1 0 0 1 40 {LABEL_H - 50} Tm {_hex(title)} Tj",
            f"/F1 12 Tf 1 0 0 1 40 {LABEL_H - 78} Tm {_hex(name[:20])} Tj",
            f"/F1 10 Tf 1 0 0 1 40 40 Tm {_hex(hint)} Tj",
            "ET"]
    content = ("\n".join(text) + "\n" + _qr_ops(url, 49, 70, 200)).encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {LABEL_W} {LABEL_H}] "
         f"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>").encode("ascii"),
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /UniGB-UCS2-H "
        b"/DescendantFonts [6 0 R] >>",
        b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light "
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 2 >> /FontDescriptor 7 0 R >>",
        b"<< /Type /FontDescriptor /FontName /STSong-Light /Flags 6 /FontBBox [-25 -254 1000 880] "
        b"/ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 880 /StemV 93 >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
