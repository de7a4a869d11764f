"""A small results summary that renders as text, HTML (Jupyter) and LaTeX."""

from __future__ import annotations

import html

import pandas as pd


class Summary:
    """A titled list of key/value facts followed by tables.

    Displays as HTML in Jupyter; ``as_text()``, ``as_html()`` and ``as_latex()`` give the
    other forms, and ``print(summary)`` shows the text.
    """

    def __init__(self, title: str, facts: dict, tables: dict[str, pd.DataFrame] | None = None,
                 notes: list[str] | None = None):
        self.title = title
        self.facts = dict(facts)
        self.tables = dict(tables or {})
        self.notes = list(notes or [])

    @staticmethod
    def _fmt(value) -> str:
        if isinstance(value, float):
            return f"{value:.6g}"
        return str(value)

    def as_text(self) -> str:
        """The summary as plain text."""
        width = max((len(k) for k in self.facts), default=0)
        lines = [self.title, "=" * len(self.title)]
        lines += [f"{k:<{width}}  {self._fmt(v)}" for k, v in self.facts.items()]
        for name, table in self.tables.items():
            lines += ["", name, "-" * len(name), table.to_string(float_format=lambda x: f"{x:.4f}")]
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)

    def as_html(self) -> str:
        """The summary as an HTML fragment (what Jupyter shows)."""
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(str(k))}</th><td>{html.escape(self._fmt(v))}</td></tr>"
            for k, v in self.facts.items()
        )
        parts = [f"<h4>{html.escape(self.title)}</h4>", f"<table>{rows}</table>"]
        for name, table in self.tables.items():
            parts.append(f"<h5>{html.escape(name)}</h5>")
            parts.append(table.to_html(float_format=lambda x: f"{x:.4f}"))
        parts += [f"<p><em>Note:</em> {html.escape(n)}</p>" for n in self.notes]
        return "\n".join(parts)

    def as_latex(self) -> str:
        """The summary as LaTeX tables, for a paper."""
        def esc(text: str) -> str:
            for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#")):
                text = text.replace(a, b)
            return text

        rows = "\n".join(f"{esc(str(k))} & {esc(self._fmt(v))} \\\\" for k, v in self.facts.items())
        parts = [f"% {self.title}", "\\begin{tabular}{ll}", "\\hline", rows, "\\hline", "\\end{tabular}"]
        for table in self.tables.values():
            parts.append(table.to_latex(float_format=lambda x: f"{x:.4f}"))
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        return self.as_html()

    def __str__(self) -> str:
        return self.as_text()

    __repr__ = __str__


class SummaryDisplay:
    """Mixin for result objects with a ``summary()`` method: they print their summary.

    ``print(result)`` and the bare ``result`` at a Python prompt show ``summary().as_text()``;
    Jupyter shows the HTML form. Classes decorated with ``@dataclass`` need
    ``@dataclass(repr=False)`` so the generated ``__repr__`` does not hide this one.
    """

    def summary(self) -> Summary:  # pragma: no cover - every subclass defines it
        """The result's summary (each result class defines it)."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.summary().as_text()

    def __repr__(self) -> str:
        return self.summary().as_text()

    def _repr_html_(self) -> str:
        return self.summary().as_html()
