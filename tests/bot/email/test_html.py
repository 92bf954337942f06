"""HTML of players' mail: read as text without the quoted history; kept only as safe HTML."""

from __future__ import annotations

import pytest

from bot.email.html import html_to_text, sanitize_html

# Replies as the mail clients write them, answering "Please restart the game."

GMAIL = (
    '<div dir="ltr">Thanks, that worked!<div><br></div><div>One more thing: the shop still'
    " shows 0&nbsp;gems.</div></div><br>"
    '<div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">On Mon,'
    ' 2 Nov 2026 at 12:00, Acme Support &lt;<a href="mailto:help@acme.test">help@acme.test</a>'
    '&gt; wrote:<br></div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;'
    'border-left:1px solid rgb(204,204,204);padding-left:1ex"><div dir="ltr">Please restart'
    " the game.</div></blockquote></div>\n"
)

OUTLOOK = """<html><head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<style type="text/css" style="display:none;"> P {margin-top:0;margin-bottom:0;} </style>
</head>
<body dir="ltr">
<div class="elementToProof" style="font-family: Aptos, Calibri, Helvetica, sans-serif;
 font-size: 12pt; color: rgb(0, 0, 0);">
Still broken after the update.</div>
<div class="elementToProof" style="font-size: 12pt;"><br></div>
<div id="appendonsend"></div>
<hr style="display:inline-block;width:98%" tabindex="-1">
<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" style="font-size:11pt"
 color="#000000"><b>From:</b> Acme Support &lt;help@acme.test&gt;<br>
<b>Sent:</b> Monday, November 2, 2026 12:00<br>
<b>Subject:</b> Re: [#1234] Lost my sword</font>
<div>&nbsp;</div></div>
<div><p>Please restart the game.</p></div>
</body></html>
"""

APPLE_MAIL = (
    '<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"></head>'
    '<body style="overflow-wrap: break-word; -webkit-nbsp-mode: space; line-break:'
    ' after-white-space;">Here is the screenshot you asked for.<br'
    ' id="lineBreakAtBeginningOfMessage"><div><br><blockquote type="cite"><div>On 2 Nov 2026,'
    " at 12:00, Acme Support &lt;help@acme.test&gt; wrote:</div><br"
    ' class="Apple-interchange-newline"><div><div>Please restart the game.</div></div>'
    "</blockquote></div><br></body></html>"
)

THUNDERBIRD = """<!DOCTYPE html>
<html>
  <head>
    <meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
  </head>
  <body>
    <p>I tried that, no luck.</p>
    <div class="moz-cite-prefix">On 02.11.2026 12:00, Acme Support wrote:<br>
    </div>
    <blockquote type="cite" cite="mid:ticket-1234.abc@acme.test">
      <p>Please restart the game.</p>
    </blockquote>
    <br>
  </body>
</html>
"""

YAHOO = (
    '<html><head></head><body><div class="ydp1e2c3a4byahoo-style-wrap" style="font-family:'
    'Helvetica Neue, Helvetica, Arial, sans-serif;font-size:13px;"><div dir="ltr">Got it,'
    ' thanks.</div></div><div id="yahoo_quoted_1234567" class="yahoo_quoted"><div'
    " style=\"font-family:'Helvetica Neue', Helvetica, Arial, sans-serif;font-size:13px;"
    'color:#26282a;"><div>On Monday, November 2, 2026, 12:00:00 PM GMT+1, Acme Support'
    " &lt;help@acme.test&gt; wrote:</div><div><br></div><div>Please restart the game.</div>"
    "</div></div></body></html>"
)


@pytest.mark.parametrize(
    ("html", "new_text"),
    [
        (GMAIL, "Thanks, that worked!\n\nOne more thing: the shop still shows 0 gems."),
        (OUTLOOK, "Still broken after the update."),
        (APPLE_MAIL, "Here is the screenshot you asked for."),
        (THUNDERBIRD, "I tried that, no luck."),
        (YAHOO, "Got it, thanks."),
    ],
    ids=["gmail", "outlook", "apple", "thunderbird", "yahoo"],
)
def test_quoted_history_is_dropped_and_the_new_text_kept(html: str, new_text: str) -> None:
    assert html_to_text(html) == new_text


def test_quoted_history_is_kept_when_asked_for() -> None:
    text = html_to_text(GMAIL, drop_quotes=False)
    assert text.startswith("Thanks, that worked!")
    assert "wrote:" in text
    assert "> Please restart the game." in text
    assert "Please restart the game." in html_to_text(OUTLOOK, drop_quotes=False)


def test_a_blockquote_the_player_wrote_is_kept_as_a_quote() -> None:
    html = "<p>The game says:</p><blockquote>Error 42<br>Try later</blockquote><p>Help!</p>"
    assert html_to_text(html) == "The game says:\n\n> Error 42\n> Try later\n\nHelp!"


def test_lists_become_dashed_and_numbered_lines() -> None:
    html = (
        "<p>My phone:</p><ul><li>Android 14</li><li> Pixel 7\n</li></ul>"
        "<ol><li>Open the shop</li><li>Tap <b>Buy</b><ul><li>nothing happens</li></ul></li></ol>"
    )
    assert html_to_text(html) == (
        "My phone:\n\n- Android 14\n- Pixel 7\n\n1. Open the shop\n2. Tap Buy\n  - nothing happens"
    )


def test_list_items_holding_blocks_keep_the_text_beside_the_marker() -> None:
    html = '<ul><li><div role="presentation">Android 14</div></li><li><p>Pixel 7</p></li></ul>'
    assert html_to_text(html) == "- Android 14\n- Pixel 7"


def test_links_show_their_target_when_the_text_differs() -> None:
    html = (
        '<p>See <a href="https://acme.test/faq">our FAQ</a>, <a href="https://acme.test/faq/">'
        'acme.test/faq</a> or <a href="mailto:kim@example.com">kim@example.com</a>.</p>'
        '<p><a href="https://evil.test/login">https://acme.test/login</a></p>'
        '<p><a href="javascript:alert(1)">click</a></p>'
    )
    assert html_to_text(html) == (
        "See our FAQ (https://acme.test/faq), acme.test/faq or kim@example.com.\n\n"
        "https://acme.test/login (https://evil.test/login)\n\n"
        "click"
    )


def test_entities_are_decoded() -> None:
    html = "<div>I &lt;3 this game &amp; its &quot;gems&quot; &#8212; &euro;5&nbsp;off</div>"
    assert html_to_text(html) == 'I <3 this game & its "gems" — €5 off'


def test_scripts_styles_and_the_head_leave_no_text() -> None:
    html = (
        "<html><head><title>Mail</title><style>p { color: red }</style></head><body>"
        "<script>alert('x')</script><p>Hello</p><style>.a{}</style><noscript></noscript>"
        "</body></html>"
    )
    assert html_to_text(html) == "Hello"


def test_an_unclosed_head_ends_at_the_body() -> None:
    assert html_to_text("<head><title>x</title><body><p>Hello</p>") == "Hello"


def test_whitespace_is_collapsed_with_at_most_one_blank_line() -> None:
    html = (
        "\n  <div>\n    Hello\n      there,\n  </div>\n<br><br><br><br>\n"
        "<h1>Title</h1><p>  one  </p><p></p><p></p><p>two</p>\n"
    )
    assert html_to_text(html) == "Hello there,\n\nTitle\n\none\n\ntwo"


def test_table_rows_become_lines() -> None:
    html = "<table><tr><th>Item</th><th>Price</th></tr><tr><td>Gems</td><td>5</td></tr></table>"
    assert html_to_text(html) == "Item Price\nGems 5"


def test_preformatted_text_keeps_its_lines() -> None:
    assert html_to_text("<pre>  line 1\n    line 2</pre>") == "line 1\n    line 2"


# sanitize_html


def test_sanitized_html_keeps_basic_formatting() -> None:
    html = (
        "<p><strong>bold</strong> <em>it</em> <u>u</u> <b>b</b> <i>i</i><br>next</p>"
        "<ul><li>one</li></ul><ol><li>two</li></ol><blockquote>q</blockquote>"
        "<table><thead><tr><th>h</th></tr></thead><tbody><tr><td>d</td></tr></tbody></table>"
        "<div><span>s</span></div>"
    )
    assert sanitize_html(html) == html


def test_sanitized_html_runs_nothing() -> None:
    html = (
        "<script>alert(1)</script><style>body{display:none}</style>"
        '<p onclick="alert(2)" style="color:red" class="x">hi</p>'
        '<img src="https://cdn.test/a.png" onerror="alert(3)">'
        '<a href="javascript:alert(4)">js</a><a href=" JaVaScRiPt:alert(5)">js2</a>'
        '<iframe src="https://evil.test"></iframe><form><input name="password"></form>'
        '<svg onload="alert(6)"></svg><object data="x"></object>'
    )
    clean = sanitize_html(html)
    assert "alert" not in clean
    assert "script" not in clean.lower()
    assert "display" not in clean
    assert "style=" not in clean
    assert "class=" not in clean
    assert "<iframe" not in clean
    assert "<input" not in clean
    assert "<p>hi</p>" in clean


def test_sanitized_links_are_web_or_mail_and_carry_rel() -> None:
    clean = sanitize_html(
        '<a href="https://acme.test/" target="_blank" title="t">a</a>'
        '<a href="mailto:kim@example.com">m</a><a href="ftp://x.test/f">f</a>'
        '<a href="cid:part1">c</a><a href="/relative">r</a>'
    )
    rel = 'rel="noopener noreferrer nofollow"'
    assert clean == (
        f'<a href="https://acme.test/" {rel}>a</a>'
        f'<a href="mailto:kim@example.com" {rel}>m</a>'
        f"<a {rel}>f</a><a {rel}>c</a><a {rel}>r</a>"
    )


def test_sanitized_images_are_inline_parts_or_https() -> None:
    clean = sanitize_html(
        '<img src="cid:screenshot@mail" alt="shot" width="10">'
        '<img src="https://cdn.test/a.png" alt="a">'
        '<img src="http://cdn.test/tracker.gif">'
        '<img src="data:image/png;base64,AAAA">'
        '<img src="//cdn.test/b.png">'
    )
    assert clean == (
        '<img src="cid:screenshot@mail" alt="shot"><img src="https://cdn.test/a.png" alt="a">'
        "<img><img><img>"
    )
