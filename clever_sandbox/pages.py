"""The sandbox's few HTML pages: home, the demo-user picker, signed out and the authorize error page.

Plain functions from values to HTML; every value is escaped here. No external resources, so the
pages work offline and leak nothing through Referer (the icon is inline).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from urllib.parse import quote

# The sandbox's icon: served at /favicon.ico for whatever asks, and inlined in every page.
FAVICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    '<rect width="32" height="32" rx="7" fill="#2f4b9a"/>'
    '<path d="M21.5 11.2a7 7 0 1 0 0 9.6" fill="none" stroke="#fff" stroke-width="3.4" '
    'stroke-linecap="round"/></svg>'
)
_ICON_HREF = "data:image/svg+xml," + quote(FAVICON_SVG)

_STYLE = """
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f4f6fb;color:#1c2333}
main{max-width:44rem;margin:2.5rem auto;padding:0 1.25rem}
h1{font-size:1.5rem;margin:0 0 .25rem}
h2{font-size:.85rem;letter-spacing:.06em;text-transform:uppercase;color:#5b6478;margin:1.75rem 0 .5rem}
p{margin:.25rem 0 1rem}
.badge{display:inline-block;font-size:.75rem;background:#e4e9f7;color:#2f4b9a;border-radius:1rem;
padding:.1rem .6rem;margin-left:.4rem;vertical-align:middle}
ul{list-style:none;margin:0;padding:0}
li a{display:flex;justify-content:space-between;gap:1rem;padding:.6rem .9rem;margin:.3rem 0;
background:#fff;border:1px solid #dde2ee;border-radius:.5rem;text-decoration:none;color:inherit}
li a:hover,li a:focus{border-color:#4b6fd6;outline:none}
.detail{color:#5b6478;font-size:.85rem}
.notice{background:#fff6e0;border:1px solid #f0d48a;border-radius:.5rem;padding:.6rem .9rem}
.error{background:#fdecec;border:1px solid #f2b8b8;border-radius:.5rem;padding:.6rem .9rem}
.cancel{display:inline-block;margin-top:1.5rem;color:#5b6478}
.who{background:#fff;border:1px solid #dde2ee;border-radius:.5rem;padding:.6rem .9rem}
.who a{color:#2f4b9a}
code{background:#e9ecf3;border-radius:.25rem;padding:0 .25rem}
"""


@dataclass(frozen=True, slots=True)
class PickerEntry:
    name: str
    detail: str
    href: str


@dataclass(frozen=True, slots=True)
class PickerGroup:
    title: str
    entries: Sequence[PickerEntry]


@dataclass(frozen=True, slots=True)
class SignedIn:
    """Who the sign-in cookie remembers, and where "Not you?" leads (the sandbox's logout)."""

    name: str
    switch_href: str


def _signed_in_line(signed_in: SignedIn | None) -> str:
    if signed_in is None:
        return ""
    return (
        f'<p class="who">Signed in to the sandbox as <strong>{escape(signed_in.name)}</strong>. '
        f'Not you? <a href="{escape(signed_in.switch_href)}">Switch user</a></p>'
    )


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f'<link rel="icon" href="{escape(_ICON_HREF)}">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def picker_page(
    groups: Sequence[PickerGroup],
    *,
    cancel_href: str,
    notice: str | None = None,
    signed_in: SignedIn | None = None,
) -> str:
    """The demo-user chooser shown by authorize and instant-login without a known user.

    Cancel is Clever's: back to the application with `error=access_denied`."""
    parts = ['<h1>Log in with Clever <span class="badge">sandbox</span></h1>']
    parts.append("<p>Pick a demo user from the seeded district to sign in as.</p>")
    parts.append(_signed_in_line(signed_in))
    if notice:
        parts.append(f'<p class="notice">{escape(notice)}</p>')
    shown = [group for group in groups if group.entries]
    if not shown:
        parts.append("<p>No demo users to show.</p>")
    for group in shown:
        parts.append(f"<h2>{escape(group.title)}</h2><ul>")
        parts.extend(
            f'<li><a href="{escape(entry.href)}"><span>{escape(entry.name)}</span>'
            f'<span class="detail">{escape(entry.detail)}</span></a></li>'
            for entry in group.entries
        )
        parts.append("</ul>")
    parts.append(f'<a class="cancel" href="{escape(cancel_href)}">Cancel</a>')
    return _page("Clever sandbox | Log in", "".join(parts))


def signed_out_page(*, home_href: str) -> str:
    """The sandbox's logout without a place to go back to."""
    body = (
        '<h1>Signed out <span class="badge">sandbox</span></h1>'
        "<p>The sandbox no longer remembers a demo user in this browser: the next login shows the "
        "picker.</p>"
        f'<p><a href="{escape(home_href)}">Sandbox home</a></p>'
    )
    return _page("Clever sandbox | Signed out", body)


def error_page(title: str, message: str) -> str:
    """Shown instead of a redirect when the redirect target itself cannot be trusted."""
    body = (
        f'<h1>{escape(title)} <span class="badge">sandbox</span></h1><p class="error">{escape(message)}</p>'
    )
    return _page(f"Clever sandbox | {title}", body)


def home_page(*, picker_href: str, instant_login_href: str, logout_href: str, discovery_href: str) -> str:
    body = (
        '<h1>Clever <span class="badge">sandbox</span></h1>'
        "<p>A self-contained stand-in for Clever's OAuth, OpenID Connect, Data and Events APIs, "
        "with a seeded demo district. It is for development and tests only.</p>"
        f'<ul><li><a href="{escape(picker_href)}"><span>Log in as a demo user</span>'
        '<span class="detail">/oauth/authorize</span></a></li>'
        f'<li><a href="{escape(instant_login_href)}"><span>Simulate a Clever Portal launch</span>'
        '<span class="detail">/oauth/instant-login</span></a></li>'
        f'<li><a href="{escape(logout_href)}"><span>Sign out, so the next login asks who you are</span>'
        '<span class="detail">/oauth/logout</span></a></li>'
        f'<li><a href="{escape(discovery_href)}"><span>OpenID configuration</span>'
        '<span class="detail">/.well-known/openid-configuration</span></a></li></ul>'
    )
    return _page("Clever sandbox", body)
