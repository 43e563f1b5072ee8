"""The short human-readable report of `scarsynth run`: report.md and a self-contained report.html."""

import base64
import html
from datetime import datetime, timezone
from pathlib import Path

from .presence import presence_rows
from .quantify import measurement_rows

AHA_COLUMNS = (("segment", "Segment"), ("name", "Name"), ("territory", "Territory"),
               ("scar_percent", "Scar (% of segment)"), ("scar_ml", "Scar (mL)"),
               ("mvo_ml", "MVO (mL)"), ("transmurality_mean_percent", "Transmurality (%)"),
               ("transmurality_class", "Class"))


def _text(value):
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def method_lines(metrics):
    lines = [f"Method: {metrics.get('method_name', metrics.get('method'))}"]
    threshold = metrics.get("threshold")
    if threshold:
        lines.append(
            f"Threshold: {threshold['method']} = {threshold['threshold']:.4g} (remote myocardium "
            f"mean {threshold['remote_mean']:.4g}, SD {threshold['remote_sd']:.4g}, "
            f"{threshold['remote_voxels']} voxels, {threshold.get('remote', 'automatic')})")
    if metrics.get("myocardium_source"):
        lines.append(f"Myocardium: {metrics['myocardium_source']}")
    if metrics.get("weights"):
        lines.append(f"Network weights: {metrics['weights']}")
    return lines


def build_context(source, metrics, warnings, aha_table=None, aha_summary=None, comparison=None,
                  images=None, files=()):
    """Everything the report shows, as one dict (also kept in report.json-like form by callers)."""
    return {
        "source": source, "metrics": metrics, "warnings": list(warnings),
        "aha_table": aha_table, "aha_summary": aha_summary, "comparison": comparison,
        "images": dict(images or {}), "files": list(files),
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def headline(context):
    """One sentence with the main findings."""
    m = context["metrics"]
    text = (f"Scar {m['scar_volume_ml']:.1f} mL ({m['scar_burden_percent']:.1f} % of "
            f"{m['myocardium_volume_ml']:.1f} mL LV myocardium)")
    territories = (context["aha_table"] or {}).get("territories") or []
    scarred = [t for t in territories if t.get("scar_ml")]
    if scarred and m["scar_volume_ml"] > 0:
        main = max(scarred, key=lambda t: t["scar_ml"])
        share = 100.0 * main["scar_ml"] / sum(t["scar_ml"] for t in scarred)
        text += f", {share:.0f} % of it in the {main['territory']} territory"
    text += f"; MVO {m['mvo_volume_ml']:.1f} mL." if m["mvo_volume_ml"] > 0 else "; no MVO."
    return text


def key_numbers(context):
    rows = [(name, _text(value), unit) for name, value, unit in measurement_rows(context["metrics"])]
    rows += [(name, _text(value), unit) for name, value, unit in presence_rows(context["metrics"], per_slice=False)]
    total = (context["aha_table"] or {}).get("total") if context["aha_table"] else None
    if total and total.get("transmurality_mean_percent") is not None:
        rows.append(("Mean transmurality of scarred wall", _text(total["transmurality_mean_percent"]), "%"))
    return rows


def _aha_rows(context):
    table = context["aha_table"]
    if not table:
        return []
    return [[_text(row.get(key)) for key, _ in AHA_COLUMNS] for row in table["segments"]]


def write_markdown(context, path):
    """report.md: images by relative path, tables in Markdown."""
    lines = [f"# Myocardial scar report: {context['source']}", "",
             f"Created {context['created']} by `scarsynth run`.", "", f"**{headline(context)}**", ""]
    if context["warnings"]:
        lines += ["## Warnings", ""] + [f"- **{w}**" for w in context["warnings"]] + [""]
    lines += ["## Key numbers", "", "| Measurement | Value | Unit |", "| --- | ---: | --- |"]
    lines += [f"| {n} | {v} | {u} |" for n, v, u in key_numbers(context)] + [""]
    lines += ["## Method", ""] + [f"- {line}" for line in method_lines(context["metrics"])] + [""]
    for key, title in (("bullseye", "AHA 17-segment bullseye"),
                       ("transmurality", "Mean transmurality per segment"),
                       ("slices", "Slices")):
        if key in context["images"]:
            lines += [f"## {title}", "", f"![{title}]({Path(context['images'][key]).name})", ""]
    if context["aha_table"]:
        lines += ["## AHA segments", "", "| " + " | ".join(t for _, t in AHA_COLUMNS) + " |",
                  "|" + " --- |" * len(AHA_COLUMNS)]
        lines += ["| " + " | ".join(row) + " |" for row in _aha_rows(context)] + [""]
        if context["aha_summary"]:
            summary = context["aha_summary"]
            lines += [f"Apex side: {summary['apex_side']} ({summary['apex_source']}); RV insertion "
                      f"points: {summary['insertion_source']}.", ""]
    if context["comparison"]:
        lines += ["## Against the phantom's truth", "", "| Quantity | Found | True |",
                  "| --- | ---: | ---: |"]
        lines += [f"| {n} | {_text(f)} | {_text(t)} |" for n, f, t in context["comparison"]] + [""]
    if context["files"]:
        lines += ["## Files", ""] + [f"- `{name}`: {what}" for name, what in context["files"]] + [""]
    Path(path).write_text("\n".join(lines))
    return path


_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 60em; color: #222; line-height: 1.4; }
h1 { font-size: 1.5em; border-bottom: 2px solid #c33; padding-bottom: .2em; }
h2 { font-size: 1.15em; margin-top: 1.6em; color: #333; }
table { border-collapse: collapse; margin: .5em 0; font-size: .92em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; }
th { background: #f4f4f4; text-align: left; } td.num { text-align: right; }
.warning { background: #fff3cd; border: 1px solid #e0c36b; padding: .5em .8em; margin: .3em 0; }
.row { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.row .figure { flex: 1 1 45%; } .figure img { max-width: 100%; }
.small { color: #777; font-size: .85em; } .headline { font-size: 1.15em; font-weight: 600; }
"""


def _img(path):
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(Path(path).stem)}">'


def _table(header, rows, numeric=()):
    out = ["<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"]
    for row in rows:
        cells = "".join(
            f'<td class="num">{html.escape(str(c))}</td>' if i in numeric else f"<td>{html.escape(str(c))}</td>"
            for i, c in enumerate(row))
        out.append(f"<tr>{cells}</tr>")
    return "".join(out) + "</table>"


def write_html(context, path):
    """report.html: one self-contained file (figures embedded), readable in any browser."""
    e = html.escape
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Scar report: {e(context['source'])}"
             f"</title><style>{_STYLE}</style></head><body>",
             f"<h1>Myocardial scar report: {e(context['source'])}</h1>",
             f"<p class='small'>Created {e(context['created'])} by <code>scarsynth run</code>.</p>",
             f"<p class='headline'>{e(headline(context))}</p>"]
    parts += [f"<div class='warning'>{e(w)}</div>" for w in context["warnings"]]
    parts.append("<h2>Key numbers</h2>")
    parts.append(_table(("Measurement", "Value", "Unit"), key_numbers(context), numeric=(1,)))
    method = "".join(f"<li>{e(line)}</li>" for line in method_lines(context["metrics"]))
    parts.append(f"<h2>Method</h2><ul>{method}</ul>")
    figures = [k for k in ("bullseye", "transmurality") if k in context["images"]]
    if figures:
        parts.append("<h2>AHA 17-segment bullseye</h2><div class='row'>")
        parts += [f"<div class='figure'>{_img(context['images'][k])}</div>" for k in figures]
        parts.append("</div>")
    if "slices" in context["images"]:
        parts.append(f"<h2>Slices</h2><div class='figure'>{_img(context['images']['slices'])}</div>")
    if context["aha_table"]:
        parts.append("<h2>AHA segments</h2>")
        parts.append(_table([t for _, t in AHA_COLUMNS], _aha_rows(context), numeric=(3, 4, 5, 6)))
        if context["aha_summary"]:
            s = context["aha_summary"]
            parts.append(f"<p class='small'>Apex side: {e(s['apex_side'])} ({e(s['apex_source'])}); "
                         f"RV insertion points: {e(s['insertion_source'])}.</p>")
    if context["comparison"]:
        parts.append("<h2>Against the phantom's truth</h2>")
        parts.append(_table(("Quantity", "Found", "True"),
                            [(n, _text(f), _text(t)) for n, f, t in context["comparison"]], numeric=(1, 2)))
    if context["files"]:
        parts.append("<h2>Files</h2><ul>" + "".join(
            f"<li><code>{e(n)}</code>: {e(w)}</li>" for n, w in context["files"]) + "</ul>")
    parts.append("</body></html>")
    Path(path).write_text("\n".join(parts))
    return path
