"""The certificate as a one-page PDF, written directly (no PDF library).

A certificate is a few lines of text and a QR code, so the file is small enough to
write by hand: the QR code is drawn as filled squares (vector, sharp at any print
size) and the text uses the standard Chinese font STSong-Light with the UniGB-UCS2-H
encoding, which every PDF reader provides without embedding a font file.
"""
from __future__ import annotations

import segno

PAGE_W, PAGE_H = 595, 842  # A4 in points


def _utf16_hex(text: str) -> str:
    # UCS-2 covers the BMP, where every name and word on a certificate lives
    return "<" + "".join(f"{ord(ch):04X}" for ch in text if ord(ch) < 0x10000) + ">"


def qr_matrix(url: str) -> list[list[bool]]:
    """The QR code's modules for ``url`` (error correction M, with the quiet zone left out)."""
    code = segno.make(url, error="m", micro=False)
    return [[bool(cell) for cell in row] for row in code.matrix]


def _qr_ops(url: str, x0: float, y0: float, size: float) -> str:
    matrix = qr_matrix(url)
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
                ops.append(f"{x0 + start * cell:.2f} {y0 + size - (r + 1) * cell:.2f} "
                           f"{(c - start) * cell:.2f} {cell:.2f} re")
            else:
                c += 1
    ops.append("f")
    return "\n".join(ops)


def certificate_pdf(lines: list[tuple[int, str]], url: str) -> bytes:
    """``lines`` are (font size, text) from the top; the QR code pointing at ``url`` sits below."""
    y = PAGE_H - 120
    text_ops = ["BT"]
    for size, line in lines:
        text_ops.append(f"/F1 {size} Tf 1 0 0 1 72 {y} Tm {_utf16_hex(line)} Tj")
        y -= size + 18
    text_ops.append(f"/F1 9 Tf 1 0 0 1 72 {y - 200} Tm {_utf16_hex(url)} Tj")
    text_ops.append("ET")
    content = ("\n".join(text_ops) + "\n" + _qr_ops(url, 72, y - 180, 170)).encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_W} {PAGE_H}] "
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
