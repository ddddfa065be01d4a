"""MkDocs hook: the Reference page's tables, generated from lstmlab's schemas at build time
(lstmlab.reference), so the handbook cannot drift from what Hydra validates."""

from lstmlab.reference import markdown

MARK = "<!-- lstmlab: the config reference -->"


def on_page_markdown(text, page, config, files, **kwargs):
    if MARK not in text:
        return text
    return text.replace(MARK, markdown(level=2))
