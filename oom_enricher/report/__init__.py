"""Fleet-wide OOM-kill trend reports: compute once, render as HTML, Markdown or JSON."""
