"""Build the course as a static website, in one command:

    python docs/build_site.py         # writes site/; view it: python -m http.server -d site
    python docs/build_site.py --repo-url https://github.com/OWNER/aios/blob/main

The READMEs are written to be read in the repository, where a link may point at any file.
A site holds only pages, so the READMEs are staged in a temporary folder first:
README.md becomes the home page and lessons/lessonNN/README.md the page lessonNN.md, all
side by side. Links between them become links between pages, images are copied beside
them, and a link to any other repository file (source, run scripts, solutions) becomes
that file's repository path as text, or a link under --repo-url. mkdocs then builds the
folder with --strict, so a link that leads nowhere fails the build instead of the reader.
"""
import argparse
import json
import logging
import posixpath
import re
import shutil
import tempfile
from pathlib import Path

from mkdocs.commands.build import build as mkdocs_build
from mkdocs.config import load_config
from mkdocs.exceptions import Abort

ROOT = Path(__file__).resolve().parents[1]
IMAGES = {".png", ".jpg", ".jpeg", ".gif", ".svg"}

# Code is matched first and left alone, so that `layers[i](x)` in code is never taken for
# a link; otherwise the match is a Markdown link or image: ![text](target).
TOKEN = re.compile(r"```.*?```|`[^`\n]*`"
                   r"|(?P<bang>!?)\[(?P<text>[^\]\n]*)\]\((?P<target>[^)\s]+)\)", re.DOTALL)
HEADING = re.compile(r"#\s*Lesson\s+(\d+)\s*[—–-]\s*(.+)")


def site_pages() -> dict[str, str]:
    """Each page's source, as a repository path, to its file name in the site."""
    pages = {"README.md": "index.md"}
    for readme in sorted(ROOT.glob("lessons/lesson[0-9][0-9]/README.md")):
        pages[readme.relative_to(ROOT).as_posix()] = readme.parent.name + ".md"
    return pages


def nav_title(readme: str) -> str:
    """'# Lesson 06 — The paged KV cache' -> '06 · The paged KV cache'."""
    match = HEADING.fullmatch(readme.splitlines()[0].strip())
    if not match:
        first = readme.splitlines()[0]
        raise SystemExit(f"a lesson README must start with '# Lesson NN — Title', not {first!r}")
    return f"{match[1]} · {match[2]}"


def rewrite_links(markdown: str, source: str, pages: dict[str, str], images: set[str],
                  repo_url: str | None = None) -> str:
    """Make the relative links of one page (from the repository file `source`) work in the site.

    Every page sits at the top of the site, so a repository path is also the right link
    from any page; that is why images keep their paths and are copied to the same ones.
    Images to copy are added to `images`.
    """
    def rewrite(match: re.Match) -> str:
        target = match["target"]
        if target is None or re.match(r"[a-zA-Z][\w+.-]*:|#|/", target):
            return match[0]          # code, a URL, an anchor on this page, an absolute path
        path, hash_, anchor = target.partition("#")
        path = posixpath.normpath(posixpath.join(posixpath.dirname(source), path))
        if not (ROOT / path).exists():
            raise SystemExit(f"{source}: the link {target!r} leads to {path}, which does not exist")
        if path in pages:
            new = pages[path] + hash_ + anchor
        elif Path(path).suffix.lower() in IMAGES:
            images.add(path)
            new = path
        elif repo_url:
            new = f"{repo_url.rstrip('/')}/{path}{hash_}{anchor}"
        else:                        # no page to go to: name the file instead
            text = match["text"]
            return f"`{path}`" if text.strip("`") == path else f"{text} (`{path}`)"
        return f"{match['bang']}[{match['text']}]({new})"

    return TOKEN.sub(rewrite, markdown)


def stage(docs: Path, repo_url: str | None) -> list[dict[str, str]]:
    """Write every page, and the images they show, into `docs`; return the nav they need."""
    pages, images = site_pages(), set()
    nav = [{"Home": "index.md"}]
    for source, name in pages.items():
        markdown = (ROOT / source).read_text()
        (docs / name).write_text(rewrite_links(markdown, source, pages, images, repo_url))
        if name != "index.md":
            nav.append({nav_title(markdown): name})
    for image in images:
        (docs / image).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / image, docs / image)
    return nav


def build_site(site_dir: Path, repo_url: str | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        nav = stage(Path(tmp), repo_url)
        config = load_config(str(ROOT / "mkdocs.yml"), docs_dir=tmp, site_dir=str(site_dir),
                             strict=True)
        # mkdocs.yml keeps the nav so it can be read there; a lesson added or renamed
        # must show up in it, so say exactly what it should be rather than build without it.
        if config.nav != nav:
            lines = "\n".join(f"  - {json.dumps(title, ensure_ascii=False)}: {page}"
                              for entry in nav for title, page in entry.items())
            raise SystemExit(f"mkdocs.yml's nav is out of date; it should read:\nnav:\n{lines}")
        try:
            mkdocs_build(config)
        except Abort as error:       # --strict: the warnings above are the reasons
            raise SystemExit(str(error)) from None
    print(f"built {len(nav)} pages into {site_dir}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site-dir", type=Path, default=ROOT / "site",
                        help="where the site goes (default: site/)")
    parser.add_argument("--repo-url", help="links to repository files go under this URL, e.g. "
                        "https://github.com/OWNER/aios/blob/main (default: the path as text)")
    args = parser.parse_args()
    logging.basicConfig(format="%(levelname)s: %(message)s")   # mkdocs's warnings, shown
    build_site(args.site_dir.resolve(), args.repo_url)


if __name__ == "__main__":
    main()
