"""The course builds into a website (python docs/build_site.py), and every link in it works.

The build runs once, with mkdocs --strict, exactly as a reader would run it; then every
href and src in every built page is followed on disk.
"""
import importlib.util
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted(p.parent.name for p in ROOT.glob("lessons/lesson[0-9][0-9]/README.md"))


def load_build_site():
    spec = importlib.util.spec_from_file_location("build_site", ROOT / "docs" / "build_site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site")
    command = [sys.executable, "docs/build_site.py", "--site-dir", str(site)]
    subprocess.run(command, cwd=ROOT, check=True)
    return site


class Links(HTMLParser):
    """Collects every href and src of one HTML page."""

    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        self.links += [value for name, value in attrs if name in ("href", "src") and value]


def local_links(page: Path, site: Path) -> list[tuple[str, Path]]:
    """(link, the file it leads to) for each link of `page` that stays inside the site.

    A path from the root (404.html uses them: it is served at any depth) starts at `site`.
    """
    parser = Links()
    parser.feed(page.read_text())
    out = []
    for link in parser.links:
        url = urlsplit(link)
        if url.scheme or url.netloc or not url.path:   # another site, mailto:, or #anchor
            continue
        start = site if url.path.startswith("/") else page.parent
        target = (start / url.path.lstrip("/")).resolve()
        if url.path.endswith("/") or target.is_dir():
            target /= "index.html"
        out.append((link, target))
    return out


def test_every_lesson_is_a_page(site):
    assert (site / "index.html").is_file()
    for lesson in LESSONS:
        assert (site / lesson / "index.html").is_file(), lesson
    assert (site / "lessons/results/progress.png").is_file()     # the README's chart, copied


def test_no_link_leads_to_a_missing_file(site):
    pages = list(site.rglob("*.html"))
    assert len(pages) > len(LESSONS)
    missing = [(page.relative_to(site), link) for page in pages
               for link, target in local_links(page, site) if not target.is_file()]
    assert not missing


def test_links_between_pages_resolve(site):
    home = dict(local_links(site / "index.html", site))
    assert home["lesson00/"] == (site / "lesson00/index.html").resolve()   # README -> lesson 0
    lesson6 = dict(local_links(site / "lesson06" / "index.html", site))
    assert lesson6["../lesson07/"].is_file()                              # lesson 6 -> "Next"


def test_rewrite_links():
    build_site = load_build_site()
    pages, images = build_site.site_pages(), set()

    def rewrite(markdown, repo_url=None):
        source = "lessons/lesson06/README.md"
        return build_site.rewrite_links(markdown, source, pages, images, repo_url)

    # A lesson's link to another lesson becomes a link to its page, anchor kept.
    assert rewrite("[next](../lesson07/README.md#why)") == "[next](lesson07.md#why)"
    # A link to a repository file: its path as text, or a link under --repo-url.
    assert rewrite("[the scheduler](../../aios/engine/scheduler.py)") == \
        "the scheduler (`aios/engine/scheduler.py`)"
    assert rewrite("[run_lesson6.py](run_lesson6.py)", "https://example.org/aios/blob/main/") == \
        "[run_lesson6.py](https://example.org/aios/blob/main/lessons/lesson06/run_lesson6.py)"
    # Images keep their repository path and are copied to it; code and URLs stay as they are.
    assert rewrite("![chart](../results/progress.png)") == "![chart](lessons/results/progress.png)"
    assert images == {"lessons/results/progress.png"}
    for text in ("`layers[i](x)`", "```\nlayers[i](x)\n```", "[up](#top)",
                 "[paper](https://arxiv.org/abs/1706.03762)"):
        assert rewrite(text) == text
    with pytest.raises(SystemExit, match="does not exist"):
        rewrite("[gone](no_such_file.py)")
