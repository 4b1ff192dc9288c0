"""Two fixes of Jupyter Book 1's pages, found by the browser tests (tests/book/test_book.py).

- Its extensions write some inline scripts twice into every page
  (``const THEBE_JS_URL = ...`` twice is a SyntaxError in the reader's console).
- The theme's colour mode defaults to an empty string, which its script
  reports as an error on every page; ``auto`` (follow the system) is meant.

Both are fixed in the written HTML at the end of the build, so that the fix
does not depend on the order in which the extensions register their scripts.
"""
import re
from pathlib import Path

_INLINE_SCRIPT = re.compile(r"^\s*<script>.*</script>\s*$")


def _clean_page(text):
    seen, lines = set(), []
    for line in text.split("\n"):
        if _INLINE_SCRIPT.match(line):
            if line.strip() in seen:
                continue
            seen.add(line.strip())
        lines.append(line)
    text = "\n".join(lines)
    return text.replace('localStorage.getItem("mode") || "";', 'localStorage.getItem("mode") || "auto";')


def _clean_output(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        cleaned = _clean_page(text)
        if cleaned != text:
            page.write_text(cleaned, encoding="utf-8")


def setup(app):
    app.connect("build-finished", _clean_output)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
