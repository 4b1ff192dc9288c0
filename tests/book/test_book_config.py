"""The book's publishing settings, tried on a one-page book built with the real _config.yml.

- Every notebook page offers its executed notebook as ``.ipynb`` (not only
  the ``.md`` source), with or without a repository.
- ``repository: url`` is the one setting a deployment changes: empty (as
  committed) the pages have no repository or launch buttons; set, they get the
  repository button and a Binder launch link for that page.
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]

PAGE = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A page

```{code-cell} ipython3
print(6 * 7)
```
"""


def _build(folder, repository_url):
    config = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))
    config["repository"]["url"] = repository_url
    config["sphinx"]["local_extensions"] = {"course_book": str(REPO / "book" / "_ext")}
    config.pop("exclude_patterns", None)
    (folder / "_config.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    (folder / "_toc.yml").write_text("format: jb-book\nroot: page\n", encoding="utf-8")
    (folder / "page.md").write_text(PAGE, encoding="utf-8")
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run([str(jupyter_book if jupyter_book.exists() else shutil.which("jupyter-book")),
                             "build", str(folder), "-W", "-n"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    html = folder / "_build" / "html"
    return html, (html / "page.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def unpublished(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("unpublished"), "")


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("published"), "https://github.com/example-org/keras-course")


def test_committed_config_names_the_launch_providers_and_no_repository():
    config = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))
    assert config["repository"]["url"] == ""
    assert config["launch_buttons"]["binderhub_url"]
    assert not config["launch_buttons"]["colab_url"]  # Colab cannot open the .md chapters
    assert config["launch_buttons"]["thebe"] is False  # Thebe loads its code from a CDN


@pytest.mark.parametrize("book", ["unpublished", "published"])
def test_every_notebook_page_downloads_as_an_executed_ipynb(book, request):
    html, page = request.getfixturevalue(book)
    assert 'href="_sources/page.ipynb"' in page
    notebook = json.loads((html / "_sources" / "page.ipynb").read_text(encoding="utf-8"))
    outputs = [output for cell in notebook["cells"] if cell["cell_type"] == "code" for output in cell["outputs"]]
    assert any("42" in "".join(output.get("text", "")) for output in outputs)


def test_without_a_repository_there_are_no_repository_or_launch_buttons(unpublished):
    _, page = unpublished
    assert "mybinder.org" not in page and "colab.research.google.com" not in page
    assert "source-repository-button" not in page


def test_the_repository_url_alone_turns_on_the_repository_and_launch_buttons(published):
    _, page = published
    assert "https://github.com/example-org/keras-course" in page
    assert "source-repository-button" in page
    assert "https://mybinder.org/v2/gh/example-org/keras-course/main?urlpath=lab/tree/page.md" in page
    assert "colab.research.google.com" not in page
