"""Rendering: wrangler-like text, the JSON shape, GitHub annotations."""

from __future__ import annotations

import json
from pathlib import Path

from emulator.config import check_paths
from emulator.config.render import render_github, render_json, render_text

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "configs"


def test_text_renders_wrangler_blocks_with_locations() -> None:
    case = FIXTURES / "oracle" / "p02_seed_consumers"
    text = render_text(check_paths([case], cwd=case), cwd=case)
    assert "✘ [ERROR] Running configuration file validation for Pages:\n\n" \
           '  - Configuration file for Pages projects does not support "queues.consumers"\n' \
           "    at wrangler.toml:25:1 (queues.consumers)\n" in text
    assert text.rstrip().endswith("1 file(s) checked: 1 error(s), 0 warning(s)")


def test_text_renders_env_children_and_ours() -> None:
    case = FIXTURES / "cases" / "env_non_inherited_bindings"
    text = render_text(check_paths([case], env="staging", cwd=case), cwd=case)
    assert "▲ [WARNING] Processing wrangler.toml configuration:\n\n" \
           '  - "env.staging" environment configuration\n' \
           '    - "vars.B" exists at the top level, but not on "env.staging.vars".\n' \
           '      This is not what you probably want' in text
    assert '    - "queues" exists at the top level, but not on "env.staging".\n' in text
    case = FIXTURES / "cases" / "queues_dlq_is_itself"
    text = render_text(check_paths([case], cwd=case), cwd=case)
    assert '✘ [ERROR] [CFE107] Dead letter queue for queue "jobs" cannot be itself\n\n' \
           "    wrangler.toml:7:1 (queues.consumers[0].dead_letter_queue)" in text


def test_json_shape() -> None:
    case = FIXTURES / "oracle" / "w02_max_retries_string"
    data = json.loads(render_json(check_paths([case], cwd=case), cwd=case))
    assert data == {"ok": False, "files": [{
        "path": "wrangler.toml", "kind": "worker", "warnings": [],
        "errors": [{"message": '"queues.consumers[0]" should, optionally, have a number "max_retries" field but '
                               'got {"queue":"q","max_retries":"3"}.',
                    "path": "queues.consumers[0].max_retries", "line": 6, "column": 1, "id": None}]}]}


def test_github_annotations_escape_newlines() -> None:
    case = FIXTURES / "oracle" / "p03_main_and_output_dir"
    out = render_github(check_paths([case], cwd=case), cwd=case).splitlines()
    assert out[0].startswith("::error file=wrangler.toml,line=4,col=1,title=wrangler%3A Running configuration "
                             "file validation for Pages::Configuration file cannot contain both both")
    assert "keys.%0APlease use" in out[0]
    assert len(out) == 2
    case = FIXTURES / "cases" / "queues_consumer_ranges"
    out = render_github(check_paths([case], cwd=case), cwd=case).splitlines()
    assert out[0].startswith("::error file=wrangler.toml,line=") and ",title=CFE" in out[0]
