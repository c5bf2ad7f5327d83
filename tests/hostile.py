"""A corpus of hostile values, shared by the tests that drive them through every way in (domain calls,
HTTP routes, the command line, websocket events, the browser)."""

from __future__ import annotations

import uuid

TEXT: list[str] = [
    "", " ", "\t\n ", "\x00", "sunset\x00over mountains", "\x1b[31mred \x1b[0m fox", "\x1b]0;title\x07boat",
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<svg onload=alert(1)>", "javascript:alert(1)",
    "[click](javascript:alert(1))", "![x](http://127.0.0.1:9/x.png)", "<iframe src=//evil>", "</textarea><b>x",
    "{{7*7}}", "${7*7}", "#{7*7}", "<%= 7*7 %>", "<reflex.Var>x</reflex.Var>", "<reflex.Var>{\"a\":1}</reflex.Var>",
    "'; DROP TABLE users; --", "\" OR 1=1 --", "1' OR '1'='1", "%s%s%s%n", "%x%x%x", "\\", "\\\\\\'",
    "../../etc/passwd", "..\\..\\windows\\win.ini", "%00", "%2e%2e%2f", "\r\n\r\nHTTP/1.1 200 OK",
    "None", "null", "undefined", "NaN", "true", "[]", "{}", "0", "-1", "1e309",
    "a" * 4001, "b" * 20000, "\U0001f642" * 2000, "x" * 3999 + "\U0001f642", "word " * 1000, "\n" * 5000,
    "\u202eevil\u202c", "\u200b" * 300, "a" + "\u0301" * 1000, "\ufeffBOM", "\ud800lone surrogate", "\udfff",
    "\uffff\ufffe", "ﬁne ligature", "ＦＵＬＬＷＩＤＴＨ sunset", "\u0000\u0001\u0002\u0003", "\x7f\x80\x9f",
    "make it wider", "3 variations", "another one", "/imagine", "/imagine " + "x" * 5000, "draw 1000000 cats",
    "draw 99999x99999 cats", "draw a cat 0x0", "draw a cat -5x-5", "draw 2**70 cats", "draw a cat in 1x1",
    "draw a cat in the style of <script>", "as a watercolor" * 300, "hi" * 3000,
]

IDS: list[object] = [
    0, -1, 1.5, True, False, None, 2**31, 2**63, 2**70, "1", "-1", "abc", "", " ", "1; DROP TABLE users",
    [], {}, [1], {"id": 1}, "00000000-0000-0000-0000-000000000000", str(uuid.uuid4()), "../x", "%00",
    "<script>", "<reflex.Var>x</reflex.Var>", "x" * 100000, "{" + str(uuid.uuid4()) + "}", "NaN", float("inf"),
    "1e3", "0x10", "１２",
]

SIZES: list[str] = [
    "0x0", "-1x5", "99999x99999", "1x1", "63x63", "1023x1023", "abc", "", "1024X1024", "1e3x1e3",
    "1024x", "x1024", "1024*1024", "1024x1024x3", " 1024x1024 ", "１０２４x１０２４", "4097x1024", "65x4096",
    "2048x2048", "1024x1024;rm", "10000000000x1",
]

FORMATS: list[str] = [
    "png", "jpeg", "jpg", "webp", "gif", "bmp", "PNG", "../png", "png%00", "", "svg", "tiff", "x" * 1000,
    "png.exe", "jpeg\x00", "avif",
]

SEARCHES: list[str] = [
    "", "*", "!", "&", "|", "a & b", "'", '"', "\\", "(((", ":*", "<->", "a" * 5000, "\x00", "OR 1=1",
    "-", '"unclosed', "\U0001f642", "lake:*", "!lake", "lake <-> sunset", "a|b|c|" * 200, "%", "_", "\u202e",
    "<script>", "to_tsvector('x')",
]

QUERY_PARAMS: list[str] = [
    "<reflex.Var>x</reflex.Var>", "%3Creflex.Var%3Ex%3C%2Freflex.Var%3E", "javascript:alert(1)", "x" * 5000,
    str(uuid.uuid4()), "'", "\"", "../../", "%00", "<script>alert(1)</script>", "img-1;alert(1)",
    "{" * 100, "]]]]", "${x}", "`x`",
]

TITLES: list[str] = [
    "", " ", "\x00", "<b>bold</b>", "<script>alert(1)</script>", "x" * 201, "x" * 100000, "\u202eevil",
    "\x1b[31mred", "{{x}}", "<reflex.Var>x</reflex.Var>", "\n\n", "\U0001f642" * 300, "a\rb\nc", "'; --",
]

USERNAMES: list[str] = [
    "", "a", "ab", "x" * 33, "x" * 10000, "admin'--", "<script>", "ali ce", "alice\x00", "ALICE", "al/ice",
    "al\u200bice", "ａｌｉｃｅ", "..", "alice\n", "@@@", "\U0001f642\U0001f642\U0001f642", "None",
]

CORPUS_SIZE = sum(map(len, (TEXT, IDS, SIZES, FORMATS, SEARCHES, QUERY_PARAMS, TITLES, USERNAMES)))
