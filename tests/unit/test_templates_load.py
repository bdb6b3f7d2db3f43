"""A serving process compiles every page template at start-up (render.load_templates),
before `heap.settle` freezes what it built: each one is in the environment's cache then,
and none fails to compile."""

from __future__ import annotations

from thidua.api.web.render import load_templates, templates


def test_every_template_is_compiled_and_kept_at_start_up():
    templates.cache.clear()
    load_templates()
    names = templates.list_templates()
    assert "target.html" in names and "base.html" in names
    cached = {key[1] for key in templates.cache.keys()}  # jinja2 keys by (loader, name)
    assert cached == set(names)
