"""cwmn_web.client.css_refs: only what the CSS tokenizer reads as a reference is one. Written
as a page's author (or an attacker) would: references hidden in comments and strings must not
be fetched with the visitor's cookies, and text the guest sees must not change."""

from __future__ import annotations

from cwmn_web.client.css_refs import rewrite_css
from cwmn_web.protocol.page_assets import FILE, STYLE


def refs(css: str) -> tuple[str, list[tuple[str, str]]]:
    """The rewritten text (each reference becomes ``R<n>``) and the references found."""
    found: list[tuple[str, str]] = []

    def replace(ref: str, kind: str) -> str:
        found.append((ref, kind))
        return f"R{len(found)}"

    return rewrite_css(css, replace), found


def test_references_in_comments_are_not_references() -> None:
    css = '/* @import "/account/export.json"; */ p{color:red} /* url(/secret.png) */'
    assert refs(css) == (css, [])
    css = "/* unterminated url(/x.png) @import 'y.css';"
    assert refs(css) == (css, [])


def test_references_in_strings_are_text() -> None:
    css = 'p::after{content:"see url(/a.png) here"} q{content:\'@import "/b.css"\'}'
    assert refs(css) == (css, [])
    css = 'p{content:"a\\"url(/c.png)"}'  # an escaped quote does not end the string
    assert refs(css) == (css, [])
    css = "p{font-family:'x\\\nurl(/d.png)'}"  # a line continuation stays in the string
    assert refs(css) == (css, [])


def test_an_escaped_quote_outside_a_string_does_not_open_one() -> None:
    css = 'a\\"b{background:url(/e.png)} i{content:"x"}'
    assert refs(css) == ('a\\"b{background:url("R1")} i{content:"x"}', [("/e.png", FILE)])


def test_urls_with_parentheses_escapes_and_spaces() -> None:
    assert refs("b{background:url(a\\).png)}") == ('b{background:url("R1")}', [("a).png", FILE)])
    assert refs('b{background:url("x.png?a=(1)")}') == (
        'b{background:url("R1")}',
        [("x.png?a=(1)", FILE)],
    )
    assert refs("b{background:url(  'y.png'  )}")[1] == [("y.png", FILE)]
    assert refs("b{background:URL( z.png )}")[1] == [("z.png", FILE)]
    assert refs("b{background:url(\\41 .png)}")[1] == [("A.png", FILE)]
    assert refs("b{background:url('q\\'.png')}")[1] == [("q'.png", FILE)]


def test_what_is_not_a_url_token_is_left_alone() -> None:
    for css in (
        "b{background:url(a b.png)}",  # a bad url token
        "b{background:url(a'b.png)}",
        'b{background:url("x.png" y)}',
        "b{background:myurl(/x.png)}",  # another function
        "b{background:url (/x.png)}",  # not a function: a space before the parenthesis
        'b{content:"url(/x.png)\n} c{}',  # a bad string ends at the newline
    ):
        assert refs(css)[1] == [], css


def test_imports_are_stylesheets_and_only_after_at_import() -> None:
    css = "@import 'a.css';@IMPORT url(b.css) screen;@import/**/\"c.css\";x{background:url(d)}"
    out, found = refs(css)
    assert found == [("a.css", STYLE), ("b.css", STYLE), ("c.css", STYLE), ("d", FILE)]
    assert out == (
        '@import url("R1");@IMPORT url("R2") screen;@import/**/url("R3");x{background:url("R4")}'
    )
    assert refs("@importx 'a.css'; @font-face{src:'b.woff'}") == (
        "@importx 'a.css'; @font-face{src:'b.woff'}",
        [],
    )


def test_an_unchanged_reference_keeps_its_text() -> None:
    css = "i{background:url(data:image/gif;base64,R0==)} u{filter:url( #f )}"
    assert rewrite_css(css, lambda ref, _kind: ref) == css


def test_a_bad_url_ends_at_its_parenthesis_and_what_follows_is_read() -> None:
    # A quote in a bad url opens no string: the tokenizer skips to the url's ")".
    css = "a{background:url(O'Brien.jpg)}b{background:url(real.png)}"
    assert refs(css) == (
        'a{background:url(O\'Brien.jpg)}b{background:url("R1")}',
        [("real.png", FILE)],
    )
    assert refs('a{background:url(a"b)}i{content:"url(/in-string.png)"}')[1] == []
    assert refs("a{background:url(a b'c)} @import 'd.css';")[1] == [("d.css", STYLE)]
    # An escaped ")" does not end the bad url; the next one does.
    assert refs("a{background:url(x y\\)'z)}b{background:url(e.png)}")[1] == [("e.png", FILE)]
    # "(" makes it bad too; a bad url running to the end of the text is no reference.
    assert refs("a{background:url(p(q)}b{background:url(f.png)}")[1] == [("f.png", FILE)]
    assert refs("a{background:url(g h")[1] == []


def test_a_non_ascii_capital_before_a_reference_does_not_shift_it() -> None:
    # "İ".lower() is two code points; a full lower-casing would misalign what follows.
    assert refs("/* İstanbul */ @import 'a.css';") == (
        '/* İstanbul */ @import url("R1");',
        [("a.css", STYLE)],
    )
    assert refs("p{content:'İİİİ'} @IMPORT url(b.css);")[1] == [("b.css", STYLE)]
    assert refs("a{background:url(İ.png)} b{background:URL(c.png)}")[1] == [
        ("İ.png", FILE),
        ("c.png", FILE),
    ]


def test_names_written_with_escapes_are_read_as_a_browser_reads_them() -> None:
    """``\\75rl(`` is ``url(`` and ``@\\69mport`` is ``@import`` to the CSS tokenizer: a
    browser loads them, so they are references (missed before, left unrouted)."""
    assert refs("a{background:\\75rl(x.png)}")[1] == [("x.png", FILE)]
    assert refs("a{background:u\\72 l(x.png)}")[1] == [("x.png", FILE)]
    assert refs("@\\69mport 'y.css'; p{}")[1] == [("y.css", STYLE)]
    assert refs("@IMPORT url(z.css);")[1] == [("z.css", STYLE)]


def test_a_hash_an_at_keyword_or_a_longer_name_is_no_url() -> None:
    """``#url(x)`` is a hash token, ``@url(x)`` an at-keyword, ``\\41url(x)`` the function
    ``Aurl(``, ``@imports`` no import: none of them is a reference."""
    for css in ("a{b:#url(x.png)}", "@url(x.png);", "a{b:\\41url(x.png)}", "@imports 'c.css';"):
        assert refs(css) == (css, []), css
