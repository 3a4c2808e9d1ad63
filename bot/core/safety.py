"""Text and links that reach a channel must never ping, mislead or break out.

Paper records (arXiv, OpenAlex, journals) and model output are untrusted: a
title can hold ``<!channel>``, an OpenAlex ``landing_page_url`` can hold
``|<!here>`` or ``)[click](https://evil.example)``, a real SICI DOI holds
``<`` and ``>``, an abstract can carry ANSI escapes or a bidi override, and a
model can write ``evil.example/login``, which Slack turns into a link. Each
renderer escapes for its platform; this module holds the shared pieces, so
there is ONE place that decides:

* which characters count as control characters (``char_kind``): typed
  commands are refused with them, record text has them removed
  (``strip_controls``, applied to every ``Paper`` field);
* which URLs may be linked and how they are spelled for each platform's link
  syntax (``safe_url``);
* how model output and quoted text lose links that are not the cited papers'
  own (``defuse_links``);
* where text is cut (``clip``: at a word boundary).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Literal

_ZWSP = "\u200b"
_MASS_MENTION = re.compile(r"@(?=(everyone|here|channel)\b)", re.IGNORECASE)
_DISCORD_MENTION = re.compile(r"<(?=[@#]|a?:)")


def slack_escape(text: str) -> str:
    """Escape for Slack mrkdwn/plain_text: ``&``, ``<`` and ``>`` become entities.

    With ``<`` escaped, no ``<!channel>``, ``<!here>``, ``<@U…>`` or link can
    form, whatever the input holds.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def defuse_mentions(text: str) -> str:
    """Break ``@everyone``/``@here``/``@channel`` and Discord ``<@…>``/``<#…>``
    tokens with a zero-width space, so no platform reads them as mentions."""
    text = _MASS_MENTION.sub("@" + _ZWSP, text)
    return _DISCORD_MENTION.sub("<" + _ZWSP, text)


# -- clipping ------------------------------------------------------------------------


def pack_lines(lines: list[str], room: int) -> list[str]:
    """Lines joined into chunks of at most ``room`` characters, broken only
    between lines (a line longer than ``room`` is cut to it): verbatim text
    such as BibTeX split across messages without reflowing it."""
    chunks: list[str] = []
    current = ""
    for raw in lines:
        line = raw[:room]
        if current and len(current) + 1 + len(line) > room:
            chunks.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters, ending in an ellipsis when cut.

    The cut falls at a word boundary (``Clinical Ques…`` reads as a typo;
    ``Clinical…`` does not), with trailing punctuation dropped before the
    ellipsis. ``limit`` stays a hard maximum: when the last space is in the
    first half (one very long word, a URL, an identifier) the text is cut
    mid-word instead, so a clip never throws most of the room away.
    """
    if len(text) <= limit:
        return text
    if limit <= 1:
        return "…"[:limit]
    room = limit - 1  # characters before the ellipsis
    # A space right after the room means the room ends on a whole word.
    space = room if text[room].isspace() else _last_space(text, room, room // 2)
    cut = space if space >= room // 2 else room
    body = text[:cut].rstrip()
    if cut == space:  # drop a dangling comma or dash, unless that is all there is
        body = body.rstrip(" ,;:-–—(/") or body
    return (body or text[:room].rstrip()) + "…"


def _last_space(text: str, end: int, start: int) -> int:
    """The last whitespace in ``text[start:end]``, or -1."""
    for i in range(end - 1, start - 1, -1):
        if text[i].isspace():
            return i
    return -1


# -- control characters -----------------------------------------------------------

#: Whitespace a reader sees as a space: tabs, line and paragraph breaks.
SPACE_CONTROLS = frozenset("\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\u2028\u2029")
#: Format characters that text needs: the zero-width (non-)joiners of emoji
#: sequences and Indic and Persian scripts. Every other format character
#: (bidi overrides U+202A-U+202E and isolates U+2066-U+2069, marks, zero-width
#: spaces, soft hyphens) is invisible and only good for disguising text.
KEPT_FORMAT = frozenset("\u200c\u200d")
_SPACE_TABLE = str.maketrans(dict.fromkeys(SPACE_CONTROLS, " "))
#: ANSI escape sequences (CSI ``ESC [ … m``, OSC ``ESC ] … BEL``, two-byte
#: ``ESC x``): removed whole, so ``\x1b[31m`` leaves no ``[31m``. A lone C1
#: control (``\x9b`` is also a mis-decoded ``›``) is removed like any other.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]?|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")

CharKind = Literal["text", "space", "control", "nontext"]


def char_kind(ch: str) -> CharKind:
    """What one character is, for every check that must agree on it.

    ``space``: whitespace that reads as a space (``SPACE_CONTROLS``);
    ``control``: C0/C1 controls and invisible format characters (bidi
    overrides, zero-width spaces), but not the joiners text needs;
    ``nontext``: lone surrogates, private-use and unassigned code points;
    ``text``: everything else.
    """
    if ch in SPACE_CONTROLS:
        return "space"
    cat = unicodedata.category(ch)
    if cat == "Cc" or (cat == "Cf" and ch not in KEPT_FORMAT):
        return "control"
    if cat in ("Cs", "Co", "Cn"):
        return "nontext"
    return "text"


def strip_controls(text: str) -> str:
    """Record text without control characters: ANSI escape sequences and
    controls (``\\x07``, bidi overrides, C1) removed, line breaks and tabs
    turned into spaces, lone surrogates (which no platform can encode)
    removed. Private-use and unassigned code points stay: a newer font may
    draw them, and they cannot disguise anything.

    Cheap for ordinary text: ``str.isprintable`` is one C-speed pass and is
    true for almost every title and abstract.
    """
    if text.isprintable():
        return text
    spaced = text.translate(_SPACE_TABLE)  # the common case: line breaks only
    if spaced.isprintable():
        return spaced
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    out = []
    for ch in text:
        kind = char_kind(ch)
        if kind == "space":
            out.append(" ")
        elif kind == "control" or (kind == "nontext" and unicodedata.category(ch) == "Cs"):
            continue
        else:
            out.append(ch)
    return "".join(out)


# -- links ---------------------------------------------------------------------------

Platform = Literal["slack", "discord", "text"]

#: What each platform's link syntax reads specially, beyond the characters no
#: URL may hold raw (RFC 3986): Slack's ``<url|text>``; Discord's masked
#: ``[text](url)`` and ``<url>``; plain text (console, quoted in answers)
#: takes the union, since it may be shown on either.
LINK_SPECIALS: dict[str, str] = {"slack": "<>|", "discord": "()[]<>", "text": "<>|()[]"}
#: Characters a URL may hold raw (RFC 3986 unreserved, reserved and ``%``),
#: minus ``[]``, which only bracket IPv6 hosts and are never needed after one.
_URL_CHARS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#@!$&'()*+,;="
)
_HEX = frozenset("0123456789abcdefABCDEF")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}")
_AUTHORITY = re.compile(r"(?i)(https?)://([^/?#]*)(.*)", re.S)
#: The longest URL any renderer links (Slack and Discord accept far longer;
#: a card does not need to).
MAX_URL = 2000


def safe_url(url: object, platform: Platform, limit: int = MAX_URL) -> str | None:
    """``url`` as it may be linked on ``platform``, or None when it cannot be.

    Every URL from a record goes through here before it reaches a channel.
    Accepted: ``http``/``https`` with a plain host name (ASCII or IDN, made
    ASCII) and an optional port. Dropped: other schemes (``javascript:``,
    ``data:``), no host, credentials before the host (``https://arxiv.org@evil.example``
    shows one host and opens another), IP-literal hosts, control characters,
    anything longer than ``limit``. Kept URLs are percent-encoded so that
    nothing in them is read as link syntax: whitespace, ``<>|`` for Slack,
    ``()[]<>`` for Discord, any character a URL may not hold raw, a ``%``
    that starts no escape, a second ``#``. Existing ``%XX`` escapes are kept,
    so the result is stable (``safe_url(safe_url(u)) == safe_url(u)``).
    """
    if not isinstance(url, str):
        return None
    url = url.strip(" \t\r\n")
    match = _AUTHORITY.fullmatch(url)
    if match is None or len(url) > limit * 3:
        return None
    scheme, authority, rest = match.groups()
    if any(char_kind(ch) in ("control", "nontext") for ch in url):
        return None
    host, port = authority, ""
    if ":" in authority:
        host, _, port = authority.rpartition(":")
        if not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
            return None
    host = _ascii_host(host)
    if host is None:
        return None
    specials = LINK_SPECIALS[platform]
    out = [f"{scheme.lower()}://{host}", f":{port}" if port else ""]
    fragment = False
    for i, ch in enumerate(rest):
        if ch == "%" and len(escape := rest[i + 1 : i + 3]) == 2 and set(escape) <= _HEX:
            out.append(ch)
        elif ch == "#" and not fragment:
            fragment = True
            out.append(ch)
        elif ch in _URL_CHARS and ch not in specials and ch != "%" and ch != "#":
            out.append(ch)
        else:
            out.append("".join(f"%{b:02X}" for b in ch.encode("utf-8")))
    safe = "".join(out)
    return safe if len(safe) <= limit else None


def _ascii_host(host: str) -> str | None:
    """A host name in lower-case ASCII (IDN as punycode), or None if it is not one."""
    host = host.lower().rstrip(".")
    if not host or len(host) > 253:
        return None
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return host if _HOST.fullmatch(host) else None


# -- links in model output and quoted text ---------------------------------------------

#: A URL with any scheme (what both platforms link).
_URL = re.compile(r"(?<![\w+.-])[a-z][a-z0-9+.-]{1,15}://[^\s<>\"'`]+", re.IGNORECASE)
#: A bare domain (``evil.example/login``, ``www.x.com``, ``name@evil.example``):
#: what Slack links without a scheme. Labels are letters, digits and hyphens
#: (any script); the last one starts with a letter and has two or more
#: characters, so ``e.g.``, ``3.5`` and ``Fig.3`` are not domains. A match
#: starts only where a domain can (not inside a word or a dotted run), and the
#: runs are possessive, so the scan stays linear on hostile text.
_DOMAIN = re.compile(r"(?<![\w-])(?<!\w\.)(?:[^\W_][\w-]*+\.)+[^\W\d_][^\W_][\w-]*+")
_SCHEME = re.compile(r"(?<![\w+.-])[a-z][a-z0-9+.-]{1,15}://", re.IGNORECASE)
_TRAILING = ".,;:!?'\")]}>"
_OPENER = {")": "(", "]": "[", "}": "{"}


#: A Markdown link, ``[text](url)`` or ``[text](<url>)``.
_MD_LINK = re.compile(r"\[([^\]\n]{1,300})\]\(\s*<?([^()\s<>]*)>?\s*\)")


def defuse_links(text: str, keep: Iterable[str] = ()) -> str:
    """``text`` with no link but to the ``keep`` URLs (the cited papers' own).

    For model output and quoted abstracts, where Slack would otherwise link
    whatever looks like an address. A URL among ``keep`` stays, in its safe
    spelling (``safe_url`` for plain text); any other URL is removed; a
    Markdown link keeps its text (and its URL only if kept); and every bare
    domain (``evil.example/login``, ``www.x.com``, ``me@evil.example``) gets
    a zero-width space after each dot, so neither Slack nor Discord links it
    while it still reads the same (``evil.\u200bexample/login``).
    """
    allowed = {k for u in keep if (k := _url_key(u)) is not None}

    def kept(url: str) -> str | None:
        return safe_url(url, "text") if _url_key(url) in allowed else None

    def markdown(match: re.Match[str]) -> str:
        url = kept(match.group(2))
        return f"{match.group(1)} ({url})" if url else match.group(1)

    def bare(match: re.Match[str]) -> str:
        found = match.group(0)
        end = _url_end(found)
        url = kept(found[:end])
        return (url or "") + found[end:]

    if allowed and "](" in text:
        text = _MD_LINK.sub(markdown, text)
    elif "](" in text:
        text = _MD_LINK.sub(r"\1", text)
    text = _URL.sub(bare, text)
    return _defuse_domains(text, skip_urls=bool(allowed))


def _defuse_domains(text: str, skip_urls: bool = False) -> str:
    """A zero-width space after every dot of every domain in ``text``; with
    ``skip_urls``, URLs (the kept ones) are left whole."""
    if "." not in text:
        return text
    dot = "." + _ZWSP
    if not skip_urls:
        return _DOMAIN.sub(lambda m: m.group(0).replace(".", dot), text)
    out, last = [], 0
    for m in _URL.finditer(text):
        out.append(_DOMAIN.sub(lambda d: d.group(0).replace(".", dot), text[last : m.start()]))
        out.append(m.group(0))
        last = m.end()
    out.append(_DOMAIN.sub(lambda d: d.group(0).replace(".", dot), text[last:]))
    return "".join(out)


def _url_end(found: str) -> int:
    """Where a URL found in prose ends: trailing punctuation is the sentence's,
    except a closing bracket the URL itself opened (``…/(SICI)…``, ``wiki/A_(b)``)."""
    end = len(found)
    counts = {ch: found.count(ch) for ch in "()[]{}"}
    while end and found[end - 1] in _TRAILING:
        ch = found[end - 1]
        if ch in _OPENER and counts[_OPENER[ch]] >= counts[ch]:
            break
        if ch in counts:
            counts[ch] -= 1
        end -= 1
    return end


def _url_key(url: str) -> str | None:
    """What two spellings of one URL share: its safe form, ``http`` as
    ``https``, without a trailing slash."""
    safe = safe_url(url, "text")
    if safe is None:
        return None
    return safe.removeprefix("http://").removeprefix("https://").rstrip("/")
