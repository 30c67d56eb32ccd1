"""Wrangler's ``validatePagesConfig``: the extra rules a Pages project's config must meet.

Pages CI runs ``wrangler pages functions build-env``, which reads the config with
``readPagesConfig``: the normal normalize-and-validate first (its errors stop everything),
then these rules under the heading ``Running configuration file validation for Pages:``.
All of them are errors, in this order: ``main`` present, missing top-level ``name``, env
names other than ``preview``/``production``, every normalized field Pages does not support
that differs from wrangler's default (``queues`` with consumers is reported as
``queues.consumers``), and Durable Object bindings without ``script_name``.
"""

from __future__ import annotations

from typing import Any

from emulator.config.diagnostics import DiagnosticTree
from emulator.config.jsvalues import UNDEF, get, is_record, keys, stringify

PAGES_HEADING = "Running configuration file validation for Pages:"

SUPPORTED_PAGES_FIELDS = (
    "pages_build_output_dir", "name", "compatibility_date", "compatibility_flags", "send_metrics",
    "no_bundle", "limits", "placement", "vars", "durable_objects", "kv_namespaces", "queues",
    "r2_buckets", "d1_databases", "vectorize", "hyperdrive", "services", "analytics_engine_datasets",
    "ai", "version_metadata", "dev", "mtls_certificates", "browser", "upload_source_maps",
    "configPath", "userConfigPath", "topLevelName", "definedEnvironments", "targetEnvironment",
)

# wrangler's defaultWranglerConfig for the fields Pages does not support (UNDEF = undefined).
DEFAULTS: dict[str, Any] = {
    "legacy_env": True, "jsx_factory": "React.createElement", "jsx_fragment": "React.Fragment",
    "rules": [], "triggers": {"crons": UNDEF}, "build": {"command": UNDEF, "watch_dir": "./src", "cwd": UNDEF},
    "define": {}, "workflows": [], "migrations": [], "cloudchamber": {}, "send_email": [],
    "ai_search_namespaces": [], "ai_search": [], "secrets_store_secrets": [], "artifacts": [],
    "unsafe_hello_world": [], "flagship": [], "ratelimits": [], "worker_loaders": [],
    "dispatch_namespaces": [], "unsafe": {}, "pipelines": [], "vpc_services": [], "vpc_networks": [],
    "logfwdr": {"bindings": []}, "observability": {"enabled": True},
    "python_modules": {"exclude": ["**/*.pyc"]},
}


def _queues_have_consumers(config: dict[str, Any]) -> bool:
    consumers = get(config.get("queues", UNDEF), "consumers")
    return isinstance(consumers, (list, str)) and len(consumers) > 0


def validate_pages_config(config: dict[str, Any], raw: dict[str, Any],
                          env_name: str | None = None) -> DiagnosticTree:
    """Pages rules over the normalized ``config`` (``raw`` gives env names and project name)."""
    d = DiagnosticTree(PAGES_HEADING)
    active = get(get(raw, "env"), env_name) if env_name else UNDEF

    def where(*path: str) -> tuple[str, ...]:
        # the active env's own value, if it has one, is what the rule is about
        if is_record(active) and path[0] in active:
            return ("env", str(env_name)) + path
        return path

    if config.get("main", UNDEF) is not UNDEF:
        d.error('Configuration file cannot contain both both "main" and "pages_build_output_dir" configuration '
                'keys.\nPlease use "main" if you are deploying a Worker, or "pages_build_output_dir" if you are '
                "deploying a Pages project.", where("main"))
    name = get(raw, "name")
    if name is UNDEF or (isinstance(name, str) and name.strip() == ""):
        d.error('Missing top-level field "name" in configuration file.\nPages requires the name of your project '
                "to be configured at the top-level of your Wrangler configuration file. This is because, in "
                "Pages, environments target the same project.", ("name",) if name is not UNDEF else ())
    envs = get(raw, "env")
    env_names = keys(envs) if envs is not UNDEF and envs is not None else []
    unsupported_envs = [n for n in env_names if n not in ("preview", "production")]
    if unsupported_envs:
        d.error("Configuration file contains the following environment names that are not supported by Pages "
                "projects:\n" + ",".join(f'"{n}"' for n in unsupported_envs)
                + '.\nThe supported named-environments for Pages are "preview" and "production".',
                ("env", unsupported_envs[0]))
    has_consumers = _queues_have_consumers(config)
    for field, value in config.items():
        if field in SUPPORTED_PAGES_FIELDS and not (field == "queues" and has_consumers):
            continue
        if value is UNDEF or stringify(value) == stringify(DEFAULTS.get(field, UNDEF)):
            continue
        if field == "queues" and has_consumers:
            d.error('Configuration file for Pages projects does not support "queues.consumers"',
                    where("queues", "consumers"))
        else:
            d.error(f'Configuration file for Pages projects does not support "{field}"', where(field))
    bindings = get(config.get("durable_objects", UNDEF), "bindings")
    if isinstance(bindings, list) and bindings:
        invalid = [i for i, b in enumerate(bindings)
                   if not (is_record(b) and isinstance(b.get("script_name"), str))]
        if invalid:
            d.error('Durable Objects bindings should specify a "script_name".\nPages requires Durable Object '
                    "bindings to specify the name of the Worker where the Durable Object is defined.",
                    where("durable_objects", "bindings", str(invalid[0]))[:-1] + (invalid[0],))
    return d
