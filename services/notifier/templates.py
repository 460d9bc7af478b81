"""Message templates: Jinja2 in a sandbox, one file per part, per locale.

Layout: `<dir>/<locale>/<template>.<part>.j2` with parts `subject`, `txt`, `html` (email) and
`sms`. An operator directory (`GATEHOUSE_TEMPLATE_DIR`) is searched before the built-in one,
so a file there overrides the built-in of the same path. A locale that has no template falls
back to its language (`pt-BR` → `pt`), then to `en`.

Templates are data an operator (or a calling service, through its data) controls, so they
render in an immutable sandbox: no attribute access to internals (`''.__class__`), no
mutation of the context. Undefined variables are errors, so a typo fails loudly as a
permanent failure with a reason instead of a mail saying "Your code is ".

A template that must show a variable (`must_show`: the reset mails, seed 004's "the mail body
must include %PASSWORD_RESET_TOKEN%") is checked twice: `missing()` lists every email body
part that never uses it, for start-up to refuse, and a render whose body lacks the value is a
permanent failure (a file edited after start-up), never a mail without its token.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
from jinja2 import meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from gatehouse._recipients import Channel
from services.notifier.domain import PermanentFailure

BUILT_IN = Path(__file__).parent / "templates"
DEFAULT_LOCALE = "en"
LEGACY_TOKEN = "%PASSWORD_RESET_TOKEN%"
RESET_TOKEN_VARIABLE = "password_reset_token"
_BODY_PARTS = ("txt", "html")
_LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Rendered:
    locale: str
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    sms: str | None = None


class _LegacyPlaceholders(jinja2.BaseLoader):
    """Monaca mail templates mark the reset token as `%PASSWORD_RESET_TOKEN%` (seed 004).

    It becomes a Jinja variable before compiling, never a string substitution after
    rendering, so the token is escaped in HTML like any value and cannot inject markup
    or template syntax.
    """

    def __init__(self, inner: jinja2.BaseLoader) -> None:
        self.inner = inner

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        source, filename, uptodate = self.inner.get_source(environment, template)
        return source.replace(LEGACY_TOKEN, "{{ password_reset_token }}"), filename, uptodate

    def list_templates(self) -> list[str]:
        return self.inner.list_templates()


def locale_candidates(locale: str) -> list[str]:
    """`pt-BR` → [`pt-BR`, `pt`, `en`]; anything malformed is treated as `en`."""
    if not _LOCALE.match(locale):
        return [DEFAULT_LOCALE]
    candidates = [locale]
    language = locale.split("-", 1)[0]
    if language != locale:
        candidates.append(language)
    if DEFAULT_LOCALE not in candidates:
        candidates.append(DEFAULT_LOCALE)
    return candidates


class Templates:
    def __init__(
        self,
        operator_dir: str | Path | None = None,
        built_in: Path = BUILT_IN,
        *,
        must_show: Mapping[str, str] | None = None,
    ) -> None:
        # Template name -> the variable each of its email bodies must show.
        self.must_show = dict(must_show or {})
        search = [str(operator_dir)] if operator_dir else []
        search.append(str(built_in))
        self.loader = _LegacyPlaceholders(jinja2.FileSystemLoader(search))
        self.env = ImmutableSandboxedEnvironment(
            loader=self.loader,
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html.j2",), default_for_string=False, default=False
            ),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
            auto_reload=True,
        )

    def _has(self, path: str) -> bool:
        try:
            self.loader.get_source(self.env, path)
        except jinja2.TemplateNotFound:
            return False
        return True

    def _main_parts(self, channel: Channel) -> tuple[str, ...]:
        # The part whose presence decides that a locale has this template.
        return ("txt", "html") if channel == "email" else ("sms", "txt")

    def resolve(self, name: str, locale: str, channel: Channel) -> str | None:
        """The locale whose template `name` serves `channel`, or None if there is none."""
        for candidate in locale_candidates(locale):
            if any(self._has(f"{candidate}/{name}.{p}.j2") for p in self._main_parts(channel)):
                return candidate
        return None

    def exists(self, name: str, channel: Channel) -> bool:
        return self.resolve(name, DEFAULT_LOCALE, channel) is not None

    def missing(self) -> list[str]:
        """Each `must_show` template with no English email body, and each email body part, in
        any locale and from either directory, that never uses its variable: what start-up
        refuses, naming the template and the file."""
        problems: list[str] = []
        for name, variable in sorted(self.must_show.items()):
            if self.resolve(name, DEFAULT_LOCALE, "email") is None:
                problems.append(f"{name}: no template (no {DEFAULT_LOCALE}/{name}.txt.j2)")
                continue
            bodies = {f"{name}.{part}.j2" for part in _BODY_PARTS}
            paths = [p for p in self.loader.list_templates() if p.partition("/")[2] in bodies]
            for path in sorted(paths):
                source, filename, _ = self.loader.get_source(self.env, path)
                try:
                    used = meta.find_undeclared_variables(self.env.parse(source))
                except jinja2.TemplateSyntaxError as exc:
                    problems.append(f"{name}: {filename} line {exc.lineno}: {exc.message}")
                    continue
                if variable not in used:
                    problems.append(f"{name}: {filename} never shows {variable}")
        return problems

    def render(self, name: str, locale: str, channel: Channel, context: dict[str, Any]) -> Rendered:
        """Render every part `channel` needs. Raises `PermanentFailure` with a clear reason."""
        chosen = self.resolve(name, locale, channel)
        if chosen is None:
            raise PermanentFailure(f"template {name!r} does not exist for {channel}")
        parts: dict[str, str | None] = {}
        wanted = ("subject", "txt", "html") if channel == "email" else ("sms", "txt")
        for part in wanted:
            path = f"{chosen}/{name}.{part}.j2"
            parts[part] = self._render_part(name, path, context) if self._has(path) else None
        if channel == "email":
            if parts["subject"] is None:
                raise PermanentFailure(f"template {name!r} ({chosen}) has no subject part")
            self._check_shown(name, chosen, parts, context)
            return Rendered(
                chosen,
                subject=_WHITESPACE.sub(" ", parts["subject"]).strip(),
                text=parts["txt"],
                html=parts["html"],
            )
        body = parts["sms"] if parts["sms"] is not None else parts["txt"]
        return Rendered(chosen, sms=(body or "").strip())

    def _check_shown(
        self, name: str, locale: str, parts: dict[str, str | None], context: dict[str, Any]
    ) -> None:
        variable = self.must_show.get(name)
        if variable is None or variable not in context:
            return  # without the value, StrictUndefined failed any template that uses it
        value = str(context[variable])
        for part, shown in (("txt", value), ("html", str(markupsafe.escape(value)))):
            body = parts[part]
            if body is not None and shown not in body:
                raise PermanentFailure(
                    f"template {name!r} ({locale}/{name}.{part}.j2) does not show {variable}"
                )

    def _render_part(self, name: str, path: str, context: dict[str, Any]) -> str:
        try:
            return self.env.get_template(path).render(context)
        except jinja2.TemplateSyntaxError as exc:
            raise PermanentFailure(
                f"template {name!r} ({path}, line {exc.lineno}) is invalid: {exc.message}"
            ) from None
        except jinja2.TemplateError as exc:
            raise PermanentFailure(
                f"template {name!r} ({path}) failed to render: {type(exc).__name__}: {exc}"
            ) from None
        except Exception as exc:  # any expression error inside the template
            raise PermanentFailure(
                f"template {name!r} ({path}) failed to render: {type(exc).__name__}"
            ) from None
