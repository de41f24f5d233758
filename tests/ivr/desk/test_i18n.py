"""The desk in the six languages of the lines: every desk word wrapped for translation and translated, the
language chosen per user (else the browser's), months in that language, and the compiled catalogs current."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from babel.dates import get_month_names
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from ivr.desk.web import DESK_LANGUAGES, TRANSLATIONS_DIR
from tests.support.desk import login, make_user, post_form, session_csrf

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = ROOT / "ivr" / "templates" / "desk"
TRANSLATED = tuple(lang for lang in DESK_LANGUAGES if lang != "en")
# Attributes a person reads (or hears from a screen reader); their letters must be translated too.
READ_ATTRIBUTES = {"placeholder", "title", "aria-label", "alt", "data-label"}
# Setting names such as IVR_AGENTS or SHA256SUMS are names, not words: they stay as they are in every language.
NAME = re.compile(r"\b[A-Z][A-Z0-9_]*[A-Z0-9]\b")
LETTER = re.compile(r"[^\W\d_]")
GETTEXT_CALL = re.compile(r"""\b(?:_|gettext|ngettext)\(\s*(?:'[^']*'|"[^"]*")(?:\s*,\s*(?:'[^']*'|"[^"]*"))?""")
STRING = re.compile(r"""'[^']*'|"[^"]*\"""")
PRINTF = re.compile(r"%(?:\(\w+\))?[sd]")


def catalog(lang: str) -> Any:
    with (TRANSLATIONS_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=lang)


def desk_messages() -> set[str]:
    """Every msgid of the desk's templates and Python, as `pybabel extract -F babel.cfg` finds them."""
    found: set[str] = set()
    method_map = [("ivr/templates/desk/**.html", "jinja2"), ("ivr/desk/**.py", "python")]
    for _file, _line, message, _comments, _context in extract_from_dir(str(ROOT), method_map=method_map):
        if "/.venv/" in _file or _file.startswith(".venv"):
            continue
        found.add(message if isinstance(message, str) else message[0])
    return found


class _VisibleText(HTMLParser):
    """Collects text a person sees (or a screen reader reads) that has letters in it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "code"):
            self._skip += 1
        for name, value in attrs:
            if name in READ_ATTRIBUTES and value and LETTER.search(NAME.sub("", value)):
                self.found.append(f'{name}="{value}"')

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "code") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and LETTER.search(PRINTF.sub("", NAME.sub("", data))):
            self.found.append(data.strip())


def _visible(markup: str) -> list[str]:
    parser = _VisibleText()
    parser.feed(markup)
    parser.close()
    return parser.found


def untranslated(source: str) -> list[str]:
    """The words of a desk template not wrapped for translation: text between tags and in attributes people
    read, and string literals with words in them inside {{ }} and {% %} that are not gettext's arguments."""
    source = re.sub(r"\{#.*?#\}", "", source, flags=re.S)
    source = re.sub(r"\{%-?\s*trans\b.*?endtrans\s*-?%\}", "\x00", source, flags=re.S)
    found: list[str] = []
    for tag in re.findall(r"\{\{.*?\}\}|\{%.*?%\}", source, flags=re.S):
        bare = GETTEXT_CALL.sub("", tag)
        # A literal of several words is text a person reads (one word is a name: a class, an endpoint, a key).
        found += [s for s in STRING.findall(bare) if " " in s.strip("'\"") and _visible(s.strip("'\""))]
    # An expression is a value, not a word: it becomes a mark without letters; statements vanish.
    markup = re.sub(r"\{\{.*?\}\}", "\x00", source, flags=re.S)
    markup = re.sub(r"\{%.*?%\}", "", markup, flags=re.S)
    return found + _visible(markup)


def test_the_check_finds_a_word_left_in_english() -> None:
    assert untranslated("<p>Hello</p>") == ["Hello"]
    assert untranslated('<input placeholder="your name">') == ['placeholder="your name"']
    assert untranslated("<p>{{ 'Nothing yet' if x else y }}</p>") == ["'Nothing yet'"]
    assert untranslated("{% set labels = {'a': 'On a call'} %}") == ["'On a call'"]
    assert untranslated("<p>{{ _('Hello') }} <code>ivr users</code> {{ x }} (IVR_AGENTS)</p>") == []
    assert untranslated("<td data-label=\"{{ _('When') }}\">{{ n }}</td>{# a comment #}") == []


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_every_desk_template_wraps_its_words_for_translation(template: str) -> None:
    assert untranslated((TEMPLATES / template).read_text(encoding="utf-8")) == [], (
        f"wrap these words of {template} in {{{{ _('...') }}}}, then run pybabel extract/update (README, "
        "Languages of the desk)")


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_desk_message_is_translated(lang: str) -> None:
    messages = desk_messages()
    cat = catalog(lang)
    missing = []
    for msgid in sorted(messages):
        message = cat.get(msgid)
        strings = message.string if message is not None else ""
        texts = strings if isinstance(strings, tuple) else (strings,)
        if message is None or message.fuzzy or not all(t.strip() for t in texts):
            missing.append(msgid)
    assert messages and not missing, f"{lang}: translate these in ivr/translations/{lang}/LC_MESSAGES/messages.po: " \
                                     f"{missing[:20]}"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_the_compiled_catalogs_match_the_po_files(lang: str) -> None:
    compiled = io.BytesIO()
    write_mo(compiled, catalog(lang))
    compiled.seek(0)
    fresh = {str(m.id): str(m.string) for m in read_mo(compiled) if m.id}
    with (TRANSLATIONS_DIR / lang / "LC_MESSAGES" / "messages.mo").open("rb") as f:
        shipped = {str(m.id): str(m.string) for m in read_mo(f) if m.id}
    assert shipped == fresh, f"run `pybabel compile -d ivr/translations` after editing {lang}'s messages.po"


def test_the_account_page_language_changes_the_desk_words_and_months(app: Any, client: Any) -> None:
    make_user(app, "max", "manager")
    login(client, "max")
    assert "<h1>Dashboard</h1>" in client.get("/desk/dashboard").get_data(as_text=True)
    resp = post_form(client, "/desk/account", {"action": "language", "language": "fi",
                                               "csrf_token": session_csrf(client)})
    assert resp.status_code == 302
    account = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Kieli tallennettu." in account  # the confirmation speaks the new language
    page = client.get("/desk/dashboard").get_data(as_text=True)
    assert '<html lang="fi">' in page and "<h1>Kojelauta</h1>" in page and "Kirjaudu ulos" in page
    made = client.post("/desk/account", data={"action": "token", "name": "crm", "csrf_token": session_csrf(client)})
    made_at = re.search(r"tehty (\d+) (\S+) (\d{4})", made.get_data(as_text=True))
    finnish, english = get_month_names("abbreviated", locale="fi").values(), get_month_names("abbreviated", locale="en")
    assert made_at is not None and made_at.group(2) in finnish and made_at.group(2) not in english.values()
    audit = client.get("/desk/audit").get_data(as_text=True)
    assert "browser -&gt; fi" in audit
    post_form(client, "/desk/account", {"action": "language", "language": "", "csrf_token": session_csrf(client)})
    assert "<h1>Dashboard</h1>" in client.get("/desk/dashboard").get_data(as_text=True)


def test_an_unknown_language_is_refused_and_nothing_changes(app: Any, client: Any) -> None:
    make_user(app, "ann", "agent")
    login(client, "ann")
    resp = post_form(client, "/desk/account", {"action": "language", "language": "xx",
                                               "csrf_token": session_csrf(client)})
    assert resp.status_code == 400 and "unknown language" in resp.get_data(as_text=True)
    assert '<html lang="en">' in client.get("/desk/call").get_data(as_text=True)


def test_counts_are_written_the_readers_way(app: Any) -> None:
    for header, written in (("en", "12,345"), ("fi", "12\xa0345"), ("pt", "12.345")):
        with app.test_request_context("/desk/dashboard", headers={"Accept-Language": header}):
            assert app.jinja_env.filters["count"](12345) == written
            assert app.jinja_env.filters["count"]("12%") == "12%"


@pytest.mark.parametrize(("header", "lang", "word"), [
    ("fi-FI,fi;q=0.9,en;q=0.5", "fi", "Kirjaudu sisään"),
    ("zh-CN,zh;q=0.9", "zh", "登录"),
    ("pt-BR", "pt", "Entrar"),
    ("tlh, x-klingon;q=0.5", "en", "Log in"),
])
def test_without_a_choice_the_browser_language_is_used(client: Any, header: str, lang: str, word: str) -> None:
    page = client.get("/desk/login", headers={"Accept-Language": header}).get_data(as_text=True)
    assert f'<html lang="{lang}">' in page and word in page


def test_the_desk_messages_from_python_speak_the_reader_language(app: Any, client: Any) -> None:
    make_user(app, "ann", "agent")
    client.get("/desk/login")
    resp = client.post("/desk/login", data={"username": "ann", "password": "wrong password!!",
                                            "csrf_token": session_csrf(client)}, headers={"Accept-Language": "fi"})
    assert resp.status_code == 401 and "Väärä käyttäjätunnus tai salasana" in resp.get_data(as_text=True)
