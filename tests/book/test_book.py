"""The online book builds from scratch, offline, with warnings as errors.

One build (module-scoped fixture) into a temporary directory, then checks on
its HTML: every page of `_toc.yml` exists, every chapter shows a figure and the
printed result of its parity assertion, and nothing from nbgrader's solution or
hidden-test regions reaches a page.
"""
import html
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
# Only a guard against a hung kernel: build time is reported, not asserted
# (speed goals live in benchmarks, never in timed tests).
HANG_GUARD_SECONDS = 1800
# Printed by each chapter's parity cell once its assert has passed; the number
# makes it an output line (the cell's source holds a format string instead).
PARITY_LINE = re.compile(r"PARITY OK: max \|keras - course_lib\| = \d\.\d\de[-+]\d\d \(tolerance \de-\d\d\)")
NBGRADER_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
# The book's extension, which places the glossary's first-use labels.
_spec = importlib.util.spec_from_file_location("course_book", REPO / "book" / "_ext" / "course_book.py")
course_book = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(course_book)


def _toc_files():
    """Every document named in _toc.yml (root first), without extension."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]
    pending = list(toc.get("chapters", [])) + [
        chapter for part in toc.get("parts", []) for chapter in part.get("chapters", [])
    ]
    while pending:
        entry = pending.pop(0)
        files.append(entry["file"])
        pending.extend(entry.get("sections", []))
    return files


def _jupyter_book():
    beside_python = Path(sys.executable).parent / "jupyter-book"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("jupyter-book")
    if found is None:
        pytest.fail("jupyter-book is not installed; run `make book` once to create .venv")
    return found


def _page_text(path):
    """The visible text of an HTML page: tags removed, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    output = tmp_path_factory.mktemp("book")
    started = time.monotonic()
    result = subprocess.run(
        [_jupyter_book(), "build", str(REPO), "--path-output", str(output), "-W", "-n", "--keep-going"],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
    )
    seconds = time.monotonic() - started
    print(f"book build: {seconds:.0f} s")
    return {"result": result, "seconds": seconds, "html": output / "_build" / "html"}


def test_build_succeeds_with_warnings_as_errors(build):
    result = build["result"]
    assert result.returncode == 0, (
        f"jupyter-book build failed (exit {result.returncode}).\n"
        f"--- stdout (end) ---\n{result.stdout[-6000:]}\n--- stderr (end) ---\n{result.stderr[-4000:]}"
    )


def test_every_toc_page_has_html(build):
    missing = [name for name in _toc_files() if not (build["html"] / f"{name}.html").is_file()]
    assert not missing, f"pages in _toc.yml without HTML output: {missing}"
    assert (build["html"] / "index.html").is_file(), "the book has no index.html"


def test_the_reference_page_tabulates_what_course_lib_implements(build):
    """The appendix is computed at build time: its tables (GitHub-flavoured markdown printed by the cells)
    must render as tables, and its counts must be those of the installed course_lib."""
    import course_lib

    page = (build["html"] / "book" / "reference.html").read_text(encoding="utf-8")
    assert page.count("<table") >= 10, "the reference page's markdown tables did not render"
    text = _page_text(build["html"] / "book" / "reference.html")
    implemented = sum(1 for name in course_lib.layers.__all__ if name in text)
    assert implemented >= len(course_lib.layers.__all__) - 3, "the layer table misses course_lib's layers"
    assert "Not implemented" in text and "oneDNN" not in text  # TensorFlow's start-up notice stays off the page


def _chapters():
    return [name for name in _toc_files() if re.match(r"book/\d\d_", name)]


def test_toc_lists_the_twelve_chapters():
    assert len(_chapters()) == 12, f"expected chapters 1-12 in _toc.yml, found {_chapters()}"


@pytest.mark.parametrize("chapter", _chapters())
def test_chapter_shows_a_figure(build, chapter):
    page = (build["html"] / f"{chapter}.html").read_text(encoding="utf-8")
    images = re.findall(r'<img[^>]+src="[^"]*_images/[^"]+\.png"', page)
    assert images, f"{chapter}: no executed matplotlib figure on the page"
    for match in re.findall(r'src="([^"]*_images/[^"]+\.png)"', page):
        assert (build["html"] / chapter).parent.joinpath(match).resolve().is_file(), (
            f"{chapter}: figure {match} is referenced but was not written"
        )


@pytest.mark.parametrize("chapter", _chapters())
def test_chapter_prints_its_parity_result(build, chapter):
    text = _page_text(build["html"] / f"{chapter}.html")
    assert PARITY_LINE.search(text), f"{chapter}: the parity cell's printed result is missing"


# The chapters with a graded notebook of their own (the others link to one that exercises them).
CHAPTER_ASSIGNMENTS = {"book/02_core_layers": "assignment1", "book/03_learning": "assignment2",
                       "book/04_shapes": "assignment3", "book/06_functional_api": "assignment4",
                       "book/07_convolution": "assignment5", "book/08_vgg16": "assignment6",
                       "book/09_recurrent": "assignment7", "book/10_augmentation": "assignment8",
                       "book/11_classical_ml": "assignment9", "book/12_attention_gan": "assignment10"}


@pytest.mark.parametrize("chapter", _chapters())
def test_chapter_links_the_graded_notebook(build, chapter):
    page = (build["html"] / f"{chapter}.html").read_text(encoding="utf-8")
    links = re.findall(r'href="([^"]*_downloads/[^"]*(assignment\d+)\.ipynb)"', page)
    assert links, f"{chapter}: no download link to a graded notebook"
    for link, assignment in links:
        target = (build["html"] / chapter).parent.joinpath(link).resolve()
        assert target.is_file(), f"{chapter}: the linked notebook {link} was not copied"
        released = REPO / "exercises" / assignment / f"{assignment}.ipynb"
        assert target.read_bytes() == released.read_bytes(), f"{chapter}: {link} is not the release"
    own = CHAPTER_ASSIGNMENTS.get(chapter)
    if own:
        assert own in {assignment for _, assignment in links}, f"{chapter}: no link to its own {own}"


def _solution_blocks():
    """Code between nbgrader's solution markers in the source notebooks."""
    blocks = []
    for notebook in sorted((REPO / "solutions").glob("*/*.ipynb")):
        for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            for block in re.findall(r"BEGIN SOLUTION[^\n]*\n(.*?)\n[^\n]*END SOLUTION", source, re.S):
                lines = [line.strip() for line in block.splitlines() if line.strip()]
                if len(" ".join(lines)) >= 40:
                    blocks.append(" ".join(lines))
    return blocks


def test_no_solution_or_hidden_test_reaches_the_book(build):
    pages = sorted(build["html"].rglob("*.html"))
    assert pages, "no HTML pages were built"
    blocks = _solution_blocks()
    for page in pages:
        text = _page_text(page)
        for marker in NBGRADER_MARKERS:
            assert marker not in text, f"{page.relative_to(build['html'])} contains {marker!r}"
        flat = " ".join(line.strip() for line in text.splitlines() if line.strip())
        for block in blocks:
            assert block not in flat, (
                f"{page.relative_to(build['html'])} contains solution code: {block[:80]!r}"
            )
    for download in build["html"].rglob("_downloads/**/*.ipynb"):
        content = download.read_text(encoding="utf-8")
        for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS"):
            assert marker not in content, f"downloadable {download.name} contains {marker!r}"


# The chapters that teach a layer or the engine show the course_lib code that runs it.
INSIDE = {
    "book/02_core_layers": ["def dense_forward", "def dense_backward", "class ActivatedLayer", "class LeakyReLU"],
    "book/03_learning": ["def dense_backward"],
    "book/05_training": ["def _train_step", "def _loss_step"],
    "book/06_functional_api": ["def _backprop", "def _unbroadcast"],
    "book/07_convolution": ["def _columns", "def conv_forward", "def conv_backward", "def _input_gradient_stride_one",
                            "def pool_forward", "def pool_backward"],
    "book/08_vgg16": ["def vgg_blocks", "def vgg_top", "def VGG16"],
    "book/09_recurrent": ["def project", "def rnn_loop", "def rnn_loop_backward", "def step(self, xz, states)"],
    "book/10_augmentation": ["def _warp_rows"],
    "book/11_classical_ml": ["def coordinate_descent", "def logistic_loss_gradient", "def lvq1_update",
                             "def node_impurity", "def best_split", "def smo", "def kmeans_assign",
                             "def kmeans_update", "def lance_williams", "def _candidates", "def apriori",
                             "def spreading_matrix", "def fit(self, env)", "def _target",
                             "def _build"],
    "book/12_attention_gan": ["def scaled_dot_product_attention_forward",
                              "def scaled_dot_product_attention_backward", "def split_heads",
                              "def merge_heads", "def softmax_forward", "def softmax_backward",
                              "def gradient(self, target, sources", "def conv_transpose_forward"],
}


@pytest.mark.parametrize("chapter", sorted(INSIDE))
def test_chapter_shows_the_course_lib_source_it_teaches(build, chapter):
    text = _page_text(build["html"] / f"{chapter}.html")
    for definition in INSIDE[chapter]:
        assert definition in text, f"{chapter}: the included source of {definition!r} is missing"


def test_no_page_loads_anything_from_the_network(build):
    """Readers offline see everything: scripts, styles and MathJax come from the build itself."""
    pages = sorted(build["html"].rglob("*.html"))
    assert pages
    for page in pages:
        text = page.read_text(encoding="utf-8")
        remote = re.findall(r'<(?:script|img|iframe)[^>]+src="(https?://[^"]+)"', text)
        remote += re.findall(r'<link[^>]+href="(https?://[^"]+)"', text)
        assert not remote, f"{page.name} loads {remote}"
    chapter = (build["html"] / "book" / "02_core_layers.html").read_text(encoding="utf-8")
    local = re.findall(r'<script[^>]+src="([^"]*mathjax[^"]*)"', chapter)
    assert local and all(not src.startswith("http") for src in local), local
    assert (build["html"] / "_static" / "mathjax" / "tex-chtml.js").is_file()


def test_search_finds_english_and_chinese_terms(build):
    """梯度 must be found inside 随机梯度下降 too: the index segments Chinese words."""
    text = (build["html"] / "searchindex.js").read_text(encoding="utf-8")
    index = json.loads(text[text.index("(") + 1:text.rindex(")")])
    for term in ("gradient", "梯度", "损失"):
        assert term in index["terms"], term


def test_every_chapter_says_how_to_run_it_and_shows_its_setup(build):
    for chapter in _chapters():
        page = (build["html"] / f"{chapter}.html").read_text(encoding="utf-8")
        assert "How to run this page" in page, chapter
        assert "Setup shared by every chapter" in _page_text(build["html"] / f"{chapter}.html"), chapter


@pytest.mark.parametrize("chapter", _chapters())
def test_every_chapter_ends_in_exercises_with_a_worked_answer(build, chapter):
    source = (REPO / f"{chapter}.md").read_text(encoding="utf-8")
    exercises = source.split("\n## Exercises\n", 1)
    assert len(exercises) == 2, f"{chapter}: no Exercises section"
    questions = re.findall(r"^\d\. ", exercises[1], flags=re.MULTILINE)
    assert 3 <= len(questions) <= 5, f"{chapter}: {len(questions)} exercises"
    assert ":class: dropdown" in exercises[1], f"{chapter}: no worked answer in a toggle"
    assert "Exercises" in _page_text(build["html"] / f"{chapter}.html")


def test_the_glossary_defines_every_chinese_term_the_chapters_use():
    """Each `term (中文)` of a chapter is a glossary row with a definition and a link to a page."""
    rows = {}
    for line in (REPO / "book" / "glossary.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] != "English" and re.search(r"[\u4e00-\u9fff]", cells[1]):
            rows[cells[1]] = cells
    for chapter in _chapters():
        source = (REPO / f"{chapter}.md").read_text(encoding="utf-8")
        for term in re.findall(r"\(([\u4e00-\u9fff]+)[,)]", source):
            assert term in rows or any(term in chinese for chinese in rows), f"{chapter}: {term} not in the glossary"
    for chinese, (english, _, meaning, where) in rows.items():
        assert len(meaning.split()) >= 4, f"glossary: {english} ({chinese}) has no definition"
        label = course_book.first_use_label(english)
        assert where == f"{{ref}}`{label}`", f"glossary: {english} must link to its first use, {label}"


def test_glossary_links_lead_to_the_paragraph_that_first_uses_the_term(build):
    """Each "Where" link points at an element of a chapter (not a page top) that names the term."""
    root = build["html"]
    glossary = (root / "book" / "glossary.html").read_text(encoding="utf-8")
    rows = re.findall(r"<tr[^>]*>\s*<td><p>(.*?)</p></td>\s*<td><p>(.*?)</p></td>.*?"
                      r'<a class="reference internal" href="([^"#]+)#(first-[\w-]+)"', glossary, re.S)
    assert len(rows) >= 50, f"only {len(rows)} glossary rows link to a first use"
    for english, chinese, page, anchor in rows:
        target = (root / "book" / page).read_text(encoding="utf-8")
        # The target is an element's id, or (a second id) an empty span at the start of its text.
        position = target.find(f'id="{anchor}"')
        assert position >= 0, f"glossary: {english} links to {page}#{anchor}, which does not exist"
        rest = target[position:]
        block = rest[:re.search(r"</(p|li|td|dd|dt|figcaption|h[1-6])>", rest).start()]
        first_word = re.search(r"[\u4e00-\u9fff]+", html.unescape(chinese)).group()
        assert first_word in html.unescape(re.sub(r"<[^>]+>", "", block)), (
            f"glossary: {english} links to {page}#{anchor}, which does not mention {first_word}")


# --- the book in a browser (headless Chromium from the distribution, driven by Playwright) ---

def _chromium():
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("browser tests: no Chromium on this machine (apt-get install chromium; .ci/run installs it)")
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("browser tests: playwright is not installed (it is in requirements.txt)")
    return found


@pytest.fixture(scope="module")
def browser_pages(build):
    """Every page of the book opened offline at 1280 px: console errors, failed requests, measurements."""
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    html = build["html"]
    pages = [html / f"{name}.html" for name in _toc_files()]
    results = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
        for path in pages:
            page = context.new_page()
            errors, failed = [], []
            page.on("console", lambda message, errors=errors: errors.append(message.text)
                    if message.type == "error" else None)
            page.on("pageerror", lambda error, errors=errors: errors.append(str(error)))
            page.on("requestfailed", lambda request, failed=failed: failed.append(request.url))
            page.goto(path.as_uri(), wait_until="load")
            page.wait_for_timeout(300)
            has_math = page.evaluate("document.querySelectorAll('.math, mjx-container').length > 0")
            if has_math:
                page.wait_for_function("document.querySelectorAll('mjx-container').length > 0", timeout=15000)
            results[path.stem if path.parent == html else f"{path.parent.name}/{path.stem}"] = {
                "errors": errors, "failed": failed, "has_math": has_math,
                "typeset": page.evaluate("document.querySelectorAll('mjx-container').length"),
                "raw_tex": page.evaluate("document.body.innerText.includes('\\\\(') || document.body.innerText.includes('\\\\[')"),
                "broken_images": page.evaluate(
                    "[...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"),
                "overflow": page.evaluate("document.documentElement.scrollWidth - window.innerWidth"),
                "shrunk_figures": page.evaluate(
                    "[...document.querySelectorAll('figure img')].filter(i => i.naturalWidth > i.clientWidth + 2)"
                    ".map(i => `${i.src.split('/').pop()}: ${i.naturalWidth} px shown at ${i.clientWidth} px`)"),
                "links": page.evaluate("[...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))"),
            }
            page.close()
        searches = {}
        for term in ("gradient", "梯度"):
            page = context.new_page()
            page.goto((html / "search.html").as_uri() + f"?q={term}", wait_until="load")
            try:
                page.wait_for_selector("#search-results li, ul.search li", timeout=20000)
            except Exception:
                pass
            searches[term] = page.evaluate("document.querySelectorAll('#search-results li, ul.search li').length")
            page.close()
        browser.close()
    return {"pages": results, "searches": searches, "html": html}


def test_every_page_loads_offline_without_errors(browser_pages):
    for name, page in browser_pages["pages"].items():
        assert not page["errors"], f"{name}: console errors {page['errors'][:3]}"
        assert not page["failed"], f"{name}: failed requests {page['failed'][:3]}"
        assert not page["broken_images"], f"{name}: images that did not load {page['broken_images'][:3]}"


def test_every_figure_fits_the_content_column_unshrunk(browser_pages):
    """A figure drawn wider than the text column is scaled down, and its labels become unreadable."""
    for name, page in browser_pages["pages"].items():
        assert not page["shrunk_figures"], f"{name}: figures scaled down {page['shrunk_figures']}"


def test_formulas_are_typeset(browser_pages):
    with_math = {name: page for name, page in browser_pages["pages"].items() if page["has_math"]}
    assert "book/03_learning" in with_math
    for name, page in with_math.items():
        assert page["typeset"] > 0 and not page["raw_tex"], f"{name}: formulas not typeset"


def test_no_page_scrolls_sideways_at_1280_px(browser_pages):
    for name, page in browser_pages["pages"].items():
        assert page["overflow"] <= 0, f"{name}: {page['overflow']} px wider than the window"


def test_internal_links_resolve(browser_pages):
    html = browser_pages["html"]
    for name, page in browser_pages["pages"].items():
        base = (html / f"{name}.html").parent
        for href in page["links"]:
            if re.match(r"^[a-z]+:|^#", href):
                continue
            target = (base / href.split("#")[0].split("?")[0]).resolve()
            assert target.exists(), f"{name}: link {href} leads nowhere"


def test_search_finds_an_english_and_a_chinese_term_in_the_browser(browser_pages):
    assert browser_pages["searches"]["gradient"] > 0
    assert browser_pages["searches"]["梯度"] > 0


@pytest.mark.parametrize("chapter", _chapters())
def test_every_figure_is_numbered_captioned_and_described(build, chapter):
    page = (build["html"] / f"{chapter}.html").read_text(encoding="utf-8")
    images = re.findall(r'<img[^>]+src="[^"]*_images/[^"]+\.png"[^>]*>', page)
    figures = re.findall(r"<figure.*?</figure>", page, flags=re.DOTALL)
    assert images and len(figures) == len(images), f"{chapter}: {len(images)} images, {len(figures)} figures"
    for figure in figures:
        assert 'class="caption-number"' in figure, f"{chapter}: a figure without a number"
        alt = re.search(r'<img alt="([^"]*)"', figure).group(1)
        assert len(alt.split()) >= 5 and not alt.endswith(".png"), f"{chapter}: alt text {alt!r}"


# Code wider than this scrolls sideways in the book's code boxes at 1280 px.
CODE_LINE_LIMIT = 88
FENCE = re.compile(r"^(`{3,}|~{3,})\s*(.*)$")
OPTION = re.compile(r"^:[\w-]+:")


def _code_lines(path):
    """(line number, text) of every line a page shows as code.

    That is the body of each ```{code-cell} without its metadata, which is not shown
    (the YAML block between `---` lines right after the fence, or `:key: value` lines),
    and of each plain fenced block (```, ```bash, ```python, ...); other directives
    (admonition, literalinclude, include) are not code.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    code, number = [], 0
    while number < len(lines):
        opening = FENCE.match(lines[number])
        number += 1
        if not opening:
            continue
        fence, info = opening.groups()
        is_cell = info.startswith("{code-cell}")
        if is_cell and number < len(lines) and lines[number].strip() == "---":
            number = lines.index("---", number + 1) + 1
        while is_cell and number < len(lines) and OPTION.match(lines[number]):
            number += 1
        closing = re.compile(re.escape(fence[0]) + "{%d,}\\s*" % len(fence))
        while number < len(lines) and not closing.fullmatch(lines[number]):
            if is_cell or not info.startswith("{"):
                code.append((number + 1, lines[number]))
            number += 1
        number += 1
    return code


def test_no_code_line_in_the_book_is_wider_than_88_characters():
    sources = sorted((REPO / "book").glob("*.md"))
    assert any(path.stem.startswith("01_") for path in sources), "no chapters under book/"
    too_long = [
        f"{path.relative_to(REPO)}:{number}: {len(line)} characters"
        for path in sources
        for number, line in _code_lines(path)
        if len(line) > CODE_LINE_LIMIT
    ]
    assert not too_long, (
        f"{len(too_long)} code lines longer than {CODE_LINE_LIMIT} characters:\n" + "\n".join(too_long)
    )
