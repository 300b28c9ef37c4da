"""`lifecycle preview`: every message, in every locale and channel, rendered into a static
gallery with the sample data beside the templates: the catalog's, then each campaign template
folder's (`campaign_<name>`, by the channels its parts make).

Preview shows what is sent: the sample data are raw values (datetimes, windows, amounts with
their currency, numbers) formatted by the renderer exactly as in a real send, in the locale of
the copy. A row for a locale without a complete folder says which locale its customers get.
An SMS row gives its size and, when it is UCS-2, the character that made it so.

    <out>/index.html                        the gallery: one section per message
    <out>/<message>/<locale>/email.html     each email's HTML part, as a customer would see it
    <out>/<message>/<locale>/email.txt      its text part
"""

from __future__ import annotations

import html
from dataclasses import dataclass, replace
from pathlib import Path

from lifecycle.authoring.samples import SampleError, Samples
from lifecycle.messaging.catalog import SUPPORTED_LOCALES, specs_in
from lifecycle.messaging.errors import RenderError
from lifecycle.messaging.formatting import FALLBACK_LOCALE
from lifecycle.messaging.message import Channel, Kind, MessageSpec
from lifecycle.messaging.renderer import Renderer
from lifecycle.messaging.sms import SmsSize, describe, measure, ucs2_culprit


@dataclass(frozen=True)
class Entry:
    spec: MessageSpec
    locale: str
    subject: str | None = None
    html_file: str | None = None
    text_file: str | None = None
    sms: str | None = None
    sms_size: SmsSize | None = None
    ucs2: str | None = None  # what made the SMS UCS-2
    fallback: str | None = None  # why this locale's customers get another locale's copy
    error: str | None = None


def render_all(templates_dir: Path, out_dir: Path) -> list[Entry]:
    """Render every message in every supported locale and every locale folder that exists;
    write the parts and the index."""
    samples = Samples.load(templates_dir)
    renderer = Renderer(templates_dir, FALLBACK_LOCALE, samples.business)
    specs = list(specs_in(templates_dir).values())
    entries: list[Entry] = []
    for spec in specs:
        folders = renderer.locale_folders(spec.template)
        for locale in [*SUPPORTED_LOCALES, *sorted(set(folders) - set(SUPPORTED_LOCALES))]:
            entries.append(_render(renderer, samples, spec, locale, out_dir))
    (out_dir / "index.html").write_text(_index(specs, entries, samples), encoding="utf-8")
    return entries


def _fallback(renderer: Renderer, spec: MessageSpec, locale: str, chosen: str) -> str | None:
    if chosen == locale:
        return None
    lacks = renderer.locale_folders(spec.template).get(locale)
    why = f"partial folder, lacks {', '.join(lacks)}" if lacks else f"no {locale} folder"
    return f"{locale} customers get the {chosen} copy ({why})"


def _render(
    renderer: Renderer, samples: Samples, spec: MessageSpec, locale: str, out_dir: Path
) -> Entry:
    chosen = renderer.resolve_locale(spec.template, locale)
    entry = Entry(spec=spec, locale=locale, fallback=_fallback(renderer, spec, locale, chosen))
    try:
        context = samples.context(spec, chosen)
        if spec.topic is not None:
            context["unsubscribe_url"] = samples.unsubscribe_url
        if Channel.EMAIL in spec.channels:
            email = renderer.email(spec.template, locale, context)
            folder = out_dir / spec.template / locale
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "email.html").write_text(email.html, encoding="utf-8")
            (folder / "email.txt").write_text(email.text, encoding="utf-8")
            entry = replace(
                entry,
                subject=email.subject,
                html_file=f"{spec.template}/{locale}/email.html",
                text_file=f"{spec.template}/{locale}/email.txt",
            )
        if Channel.SMS in spec.channels:
            opt_out = spec.kind is Kind.MARKETING
            text = renderer.sms(spec.template, locale, context, opt_out=opt_out).text
            sources = renderer.sms_sources(spec.template, locale, opt_out=opt_out)
            culprit = ucs2_culprit(text, "".join(sources.values()))
            entry = replace(
                entry,
                sms=text,
                sms_size=measure(text),
                ucs2=f"UCS-2 because of {describe(culprit)}" if culprit else None,
            )
    except (RenderError, SampleError) as error:
        return Entry(spec=spec, locale=locale, fallback=entry.fallback, error=str(error))
    return entry


_STYLE = """
body{font-family:Arial,Helvetica,sans-serif;margin:0;background:#f3f5f7;color:#1d2329}
header{background:#1f6f8b;color:#fff;padding:16px 20px}
header h1{margin:0;font-size:20px} header p{margin:4px 0 0;font-size:13px;opacity:.9}
main{padding:12px 16px;max-width:1100px;margin:0 auto}
section{background:#fff;border-radius:8px;margin:16px 0;padding:12px 16px}
h2{font-size:18px;margin:4px 0 8px} .meta{font-size:13px;color:#5f6b76;margin:0 0 8px}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;vertical-align:top;padding:8px;border-top:1px solid #e6e9ed}
td.sms{max-width:360px} .size{font-size:12px;color:#5f6b76;white-space:nowrap}
.over{color:#b00020;font-weight:bold} .error{color:#b00020}
iframe{width:300px;height:220px;border:1px solid #e6e9ed;border-radius:4px;background:#fff}
@media (max-width:700px){iframe{display:none} th,td{padding:6px 4px}}
"""


def _index(specs: list[MessageSpec], entries: list[Entry], samples: Samples) -> str:
    sections = []
    for spec in specs:
        rows = "\n".join(_row(e) for e in entries if e.spec is spec)
        channels = ", ".join(str(c) for c in spec.channels)
        topic = f", topic {spec.topic}" if spec.topic else ""
        sections.append(
            f'<section id="{html.escape(spec.template)}">'
            f"<h2>{html.escape(spec.template)}</h2>"
            f'<p class="meta">stage {html.escape(spec.stage)} · {spec.kind}{html.escape(topic)} '
            f"· {channels} · SMS budget {spec.sms_segments} segment(s) · variables: "
            f"{html.escape(', '.join(sorted(spec.variables)))}</p>"
            "<table><thead><tr><th>locale</th><th>email</th><th>preview</th><th>SMS</th>"
            f"</tr></thead><tbody>\n{rows}\n</tbody></table></section>"
        )
    count = len(entries)
    errors = sum(e.error is not None for e in entries)
    summary = f"{count} renderings, {errors} with errors" if errors else f"{count} renderings"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Message gallery</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>Message gallery: {html.escape(samples.business.name)}</h1>"
        f"<p>{summary} · locales {', '.join(SUPPORTED_LOCALES)} · sample data from "
        "templates/*/sample.json</p></header>"
        f"<main>{''.join(sections)}</main></body></html>\n"
    )


def _row(entry: Entry) -> str:
    fallback = (
        f'<div class="size over">{html.escape(entry.fallback)}</div>' if entry.fallback else ""
    )
    locale = f"<td><strong>{html.escape(entry.locale)}</strong>{fallback}</td>"
    if entry.error:
        return f'<tr>{locale}<td colspan="3" class="error">{html.escape(entry.error)}</td></tr>'
    email = "<td>-</td><td></td>"
    if entry.html_file and entry.text_file:
        email = (
            f"<td><div>{html.escape(entry.subject or '')}</div>"
            f'<div class="size">subject: {len(entry.subject or "")} characters · '
            f'<a href="{entry.html_file}">HTML</a> · <a href="{entry.text_file}">text</a>'
            "</div></td>"
            f'<td><iframe src="{entry.html_file}" loading="lazy" '
            f'title="{html.escape(entry.spec.template)} {html.escape(entry.locale)}"></iframe></td>'
        )
    sms = "<td>-</td>"
    if entry.sms is not None and entry.sms_size is not None:
        size = entry.sms_size
        over = size.segments > entry.spec.sms_segments
        label = f"{size.units} characters · {size.encoding} · {size.segments} segment(s)" + (
            " · over budget" if over else ""
        )
        if entry.ucs2:
            label += f" · {html.escape(entry.ucs2)}"
        sms = (
            f'<td class="sms">{html.escape(entry.sms)}'
            f'<div class="size{" over" if over else ""}">{label}</div></td>'
        )
    return f"<tr>{locale}{email}{sms}</tr>"
