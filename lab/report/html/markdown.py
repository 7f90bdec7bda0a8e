"""A small Markdown subset to HTML, for the lab's concept text and the socket story.

The texts are the project's own (lab.yaml ``concept``, story.md): headings, paragraphs, bullet lists,
tables, indented or fenced code, inline code and emphasis; a block of lines aligned with runs of spaces
(the story's timeline) is kept line by line. Everything is escaped first, so a text can
never inject markup into the page; what is not in the subset stays visible as plain text.
"""

from __future__ import annotations

import html
import re

_INLINE = [
    (re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
    (re.compile(r"\*\*([^*]+)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])"), r"<em>\1</em>"),
]


def _inline(text: str) -> str:
    out = html.escape(text, quote=False)
    for pattern, repl in _INLINE:
        out = pattern.sub(repl, out)
    return out


def _table(rows: list[str]) -> str:
    cells = [[c.strip() for c in r.strip().strip("|").split("|")] for r in rows]
    body = [r for r in cells if not all(re.fullmatch(r":?-+:?", c or "-") for c in r)]
    if not body:
        return ""
    head, rest = body[0], body[1:]
    out = ["<table><thead><tr>", *(f"<th>{_inline(c)}</th>" for c in head), "</tr></thead><tbody>"]
    for r in rest:
        out += ["<tr>", *(f"<td>{_inline(c)}</td>" for c in r), "</tr>"]
    out.append("</tbody></table>")
    return "".join(out)


def to_html(text: str) -> str:
    """HTML for ``text`` (see the module docstring for the subset)."""
    lines = text.replace("\r\n", "\n").split("\n")
    out: list[str] = []
    para: list[str] = []
    i = 0

    def flush() -> None:
        # lines aligned with runs of spaces (the story's timeline) are a listing: kept line by line
        if len(para) > 1 and any("  " in p for p in para):
            out.append(f"<pre>{html.escape(chr(10).join(para))}</pre>")
        elif para:
            out.append(f"<p>{_inline(' '.join(p.strip() for p in para))}</p>")
        para.clear()

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("```"):
            flush()
            block = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                block.append(lines[i])
                i += 1
            out.append(f"<pre>{html.escape(chr(10).join(block))}</pre>")
        elif line.startswith("    ") and not para:
            block = []
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                block.append(lines[i][4:])
                i += 1
            out.append(f"<pre>{html.escape(chr(10).join(block).rstrip())}</pre>")
            continue
        elif not stripped:
            flush()
        elif m := re.match(r"(#{1,6})\s+(.*)", stripped):
            flush()
            level = min(len(m.group(1)) + 2, 6)  # the page has its own h1/h2
            out.append(f"<h{level}>{_inline(m.group(2))}</h{level}>")
        elif stripped.startswith("|"):
            flush()
            rows = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append(lines[i])
                i += 1
            out.append(_table(rows))
            continue
        elif re.match(r"[-*]\s+|\d+[.)]\s+", stripped):
            flush()
            items: list[str] = []
            ordered = bool(re.match(r"\d", stripped))
            while i < len(lines) and lines[i].strip():
                s = lines[i].strip()
                if re.match(r"[-*]\s+|\d+[.)]\s+", s):
                    items.append(re.sub(r"^([-*]|\d+[.)])\s+", "", s))
                elif items:
                    items[-1] += " " + s
                i += 1
            tag = "ol" if ordered else "ul"
            out.append(f"<{tag}>" + "".join(f"<li>{_inline(x)}</li>" for x in items) + f"</{tag}>")
            continue
        else:
            para.append(line.rstrip())
        i += 1
    flush()
    return "\n".join(out)
