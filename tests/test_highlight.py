"""The document highlight: escaped, faithful to the text, bounded in size."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from factories import make_explanation

from colbert_viz.explain import explain
from colbert_viz.highlight import highlight_html, kept_positions, shade

ZRANGE = (0.0, 1.0)
XSS_DOC = "Berlin <script>alert(1)</script> has <img src=x onerror=alert(1)> 3.8 million people."
SAFE_ATTRIBUTES = {"class", "style", "title", "data-pos", "data-dimension", "data-document", "data-score",
                   "data-tokens", "data-shown"}


class Page(HTMLParser):
    """Collects tags, attributes and the text inside the document area."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.stack: list[dict] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        self.stack.append(attributes)

    def handle_endtag(self, tag):
        self.stack.pop()

    def handle_data(self, data):
        classes = " ".join(a.get("class", "") for a in self.stack)
        if "cv-hl-text" in classes and "cv-chip" not in classes and "cv-elide" not in classes:
            self.text.append(data)


def parse(markup: str) -> Page:
    page = Page()
    page.feed(markup)
    page.close()
    return page


@pytest.fixture(scope="module")
def xss_explanation(tiny_model):
    q = tiny_model.encode_queries(["<img src=x onerror=alert(2)> population of Berlin"])[0]
    d = tiny_model.encode_documents([XSS_DOC])[0]
    return explain(q, d, 128)


def test_user_text_is_escaped_never_markup(xss_explanation):
    markup = highlight_html(xss_explanation, ZRANGE, label="<b>Doc</b>")
    page = parse(markup)
    assert {tag for tag, _ in page.tags} <= {"div", "span"}
    for _, attributes in page.tags:
        assert set(attributes) <= SAFE_ATTRIBUTES
    assert "<script" not in markup and "<img" not in markup and "<b>" not in markup
    assert "&lt;script&gt;" in markup or "&lt;" in markup


def test_tooltips_are_escaped(xss_explanation):
    markup = highlight_html(xss_explanation, ZRANGE)
    titles = re.findall(r'title="([^"]*)"', markup)
    assert titles
    for title in titles:
        assert "<" not in title and ">" not in title
    tooltips = [a["title"] for _, a in parse(markup).tags if "data-pos" in a]
    assert all("closest query token" in t for t in tooltips)
    assert any("MaxSim match of" in t for t in tooltips)


def test_the_text_is_shown_exactly(xss_explanation):
    page = parse(highlight_html(xss_explanation, ZRANGE))
    assert "".join(page.text) == XSS_DOC


def test_maxsim_matches_get_the_strong_mark(xss_explanation):
    markup = highlight_html(xss_explanation, ZRANGE)
    winners = {int(a["data-pos"]) for _, a in parse(markup).tags
               if "cv-win" in a.get("class", "") and "data-pos" in a}
    assert winners == {int(j) for j in xss_explanation.best_index}


def test_skipped_punctuation_is_grey_and_unshaded(xss_explanation):
    page = parse(highlight_html(xss_explanation, ZRANGE))
    skipped = [a for _, a in page.tags if "cv-skipped" in a.get("class", "") and "data-pos" in a]
    assert skipped and all("style" not in a for a in skipped)
    assert all("not scored" in a["title"] for a in skipped)


def test_data_attributes_name_dimension_and_document():
    expl = make_explanation(20, dim=64)
    root = parse(highlight_html(expl, ZRANGE, label="Doc 7")).tags[0][1]
    assert root["data-dimension"] == "64" and root["data-document"] == "Doc 7"
    assert root["data-tokens"] == str(len(expl.document)) == root["data-shown"]


def test_long_documents_are_cut_to_windows_with_elisions():
    expl = make_explanation(6000)
    markup = highlight_html(expl, ZRANGE, max_tokens=2048)
    page = parse(markup)
    tokens = [a for _, a in page.tags if "cv-tok" in a.get("class", "") and "data-pos" in a]
    assert len(tokens) <= 2048
    assert "cv-elide" in markup and "tokens …" in markup
    assert "Long document" in markup
    assert {int(j) for j in expl.best_index} <= {int(a["data-pos"]) for a in tokens}
    assert len(markup) < 2048 * 600


def test_kept_positions_all_for_short_documents():
    expl = make_explanation(100)
    assert kept_positions(expl, 2048).all()
    assert kept_positions(expl, 20).sum() <= 20 + 3


def test_truncation_is_said():
    from factories import document_record, query_record

    q = query_record(["Berlin"])
    d = document_record(["Berlin", "is", "big"], truncated_text=" and the rest was never encoded")
    markup = highlight_html(explain(q, d), ZRANGE)
    assert "Truncated" in markup and "not encoded" in markup
    assert "never encoded" not in markup


def test_shade_follows_the_shared_scale():
    assert shade(0.0, ZRANGE) == "rgba(255,153,0,0.04)"
    assert shade(1.0, ZRANGE) == "rgba(255,153,0,0.80)"
    assert shade(5.0, ZRANGE) == shade(1.0, ZRANGE)
    assert shade(0.5, (0.5, 0.5)) == shade(0.0, ZRANGE)
