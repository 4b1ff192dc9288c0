"""Fixes of Jupyter Book 1's pages, found by the browser tests (tests/book/test_book.py).

- Pages written as MyST Markdown notebooks offer only their ``.md`` source
  for download unless a launch provider (Binder, Colab) is configured (the
  theme copies the executed notebook only then): every notebook page now
  also offers the executed notebook as ``.ipynb``, which opens in Jupyter
  without jupytext.
- The repository and launch buttons need a repository URL (the theme fails
  without one), so both follow ``repository: url`` in ``_config.yml``: a
  deployment sets that one value.
- The glossary links each term to the paragraph of its first use, not to the
  top of a page: a target ``first-<term>`` is placed on the first paragraph of
  the book (in table-of-contents order) that names the term's Chinese form,
  and registered as a label, so ``{ref}`first-gradient``` in
  ``book/glossary.md`` resolves to it (and an unknown or unused term fails a
  ``-n`` build).
- Jupyter Book's extensions write some inline scripts twice into every page
  (``const THEBE_JS_URL = ...`` twice is a SyntaxError in the reader's
  console), and the theme's colour mode defaults to an empty string, which
  its script reports as an error on every page (``auto``, follow the system,
  is meant). These two are fixed in the written HTML at the end of the build,
  so that the fix does not depend on the order in which the extensions
  register their scripts.
"""
import re
import shutil
from pathlib import Path

from docutils import nodes

GLOSSARY = Path(__file__).resolve().parents[1] / "glossary.md"
_CHINESE = re.compile(r"[\u4e00-\u9fff]+")
_BLOCKS = (nodes.paragraph, nodes.list_item, nodes.entry, nodes.term, nodes.caption)

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


def _offer_notebook(app, pagename, templatename, context, doctree):
    """Copy the page's executed notebook next to its source and name it for the download menu.

    Runs before the theme builds its header buttons (priority 501), which add
    an ``.ipynb`` entry whenever ``ipynb_source`` is set.
    """
    if context.get("ipynb_source") or not str(context.get("sourcename", "")).endswith(".md"):
        return
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.is_file():  # a plain Markdown page (preface, glossary): no notebook
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def _follow_repository_url(app, config):
    """Repository and launch buttons exactly when ``repository: url`` is set.

    The theme fails on a page with launch providers but no repository URL, so
    the providers are cleared while there is none.
    """
    options = config.html_theme_options
    published = bool(options.get("repository_url"))
    options["use_repository_button"] = published
    if not published:
        launch = dict(options.get("launch_buttons") or {})
        for provider in ("binderhub_url", "jupyterhub_url", "colab_url", "deepnote_url"):
            launch[provider] = ""
        options["launch_buttons"] = launch


def glossary_terms(text=None):
    """``{label: first Chinese word}`` for every row of the glossary table."""
    text = GLOSSARY.read_text(encoding="utf-8") if text is None else text
    terms = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] != "English" and _CHINESE.search(cells[1]):
            terms[first_use_label(cells[0])] = _CHINESE.search(cells[1]).group()
    return terms


def first_use_label(english):
    """``first-`` and the English term in lower case, words joined by hyphens."""
    return "first-" + "-".join(re.findall(r"[a-z0-9]+", english.lower()))


def _mark_first_uses(app, doctree):
    """Target every term's first mention in this document; remember it for _register_first_uses."""
    env = app.env
    docname = env.docname
    if docname == "book/glossary":
        return
    found = env.__dict__.setdefault("course_first_uses", {})
    terms = glossary_terms()
    for text in doctree.findall(nodes.Text):
        if any(isinstance(a, (nodes.literal_block, nodes.literal, nodes.raw, nodes.comment))
               for a in _ancestors(text)):
            continue
        for label, chinese in terms.items():
            if chinese not in text or (label, docname) in found:
                continue
            block = next((a for a in _ancestors(text) if isinstance(a, _BLOCKS)), text.parent)
            if isinstance(block, nodes.title):
                block = block.parent
            section = next((a for a in _ancestors(text) if isinstance(a, nodes.section)), None)
            title = section[0].astext() if section is not None else docname
            block["ids"].append(label)
            found[(label, docname)] = (label, title)


def _ancestors(node):
    node = node.parent
    while node is not None:
        yield node
        node = node.parent


def _toc_order(env, root):
    order, pending = [], [root]
    while pending:
        docname = pending.pop(0)
        order.append(docname)
        pending[:0] = env.toctree_includes.get(docname, [])
    return order


def _register_first_uses(app, env):
    """Label each term's target in the earliest document (table-of-contents order) that has one."""
    found = env.__dict__.get("course_first_uses", {})
    order = {docname: index for index, docname in enumerate(_toc_order(env, app.config.root_doc))}
    std = env.get_domain("std")
    for (label, docname), (target, title) in sorted(found.items(), key=lambda i: order.get(i[0][1], 1e9),
                                                    reverse=True):
        std.labels[label] = (docname, target, title)
        std.anonlabels[label] = (docname, target)


def _purge_first_uses(app, env, docname):
    found = env.__dict__.get("course_first_uses", {})
    for key in [key for key in found if key[1] == docname]:
        del found[key]


def _merge_first_uses(app, env, docnames, other):
    env.__dict__.setdefault("course_first_uses", {}).update(other.__dict__.get("course_first_uses", {}))


def setup(app):
    app.connect("doctree-read", _mark_first_uses)
    app.connect("env-updated", _register_first_uses)
    app.connect("env-purge-doc", _purge_first_uses)
    app.connect("env-merge-info", _merge_first_uses)
    app.connect("config-inited", _follow_repository_url)
    app.connect("html-page-context", _offer_notebook, priority=500)
    app.connect("build-finished", _clean_output)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
