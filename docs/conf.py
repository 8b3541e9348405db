"""Sphinx configuration of mailconf's documentation (``./dev docs`` builds it).

The pages are MyST Markdown; the CLI reference and the man page come from the real argument
parser (``_ext/clidoc.py``) and the API reference from the docstrings, so neither can drift from
the code.  Nothing is fetched while building (no intersphinx): the build works offline.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent / "src"))

# argparse wraps usage lines to the terminal's width: one width, so every build of the CLI
# reference and the man page is the same text.
os.environ["COLUMNS"] = "100"

from mailconf import __version__  # noqa: E402

project = "mailconf"
author = "the mailconf authors"
# No copyright: the man page would get a section titled differently by each Sphinx version.
copyright = ""
release = version = __version__
language = "en"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinxarg.ext",
]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "man/mailconf.1", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]
html_static_path = ["_static"]

# Literal blocks without a language (the usage lines) are plain text, not Python.
highlight_language = "none"

html_theme = "furo"
html_title = f"mailconf {release}"

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}

# The man page: the same CLI reference as the site's, under the sections a man page has.  The
# date line says the version rather than the day of the build, so a rebuild of the same tree is
# byte for byte the same page (docs/man/mailconf.1 is a committed copy that a test compares).
man_pages = [
    ("man", "mailconf", "configure Postfix, OpenDKIM and OpenDMARC for SPF, DKIM and DMARC", [], 1)
]
man_show_urls = False
man_make_section_directory = False
today = release
