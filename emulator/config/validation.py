"""Wrangler's ``normalizeAndValidateConfig``, ported rule by rule (wrangler 4.86).

Given the raw parsed config and the active environment name this produces the normalized
config (a plain dict, keys in wrangler's order, ``UNDEF`` for unset fields) and a
``DiagnosticTree`` with wrangler's exact messages in wrangler's order. Every message also
carries the key path it is about so it can be located in the file.

The rules cover the whole top-level and environment field set (so unknown-field warnings and
the Pages "unsupported field" rule see exactly what wrangler sees); the bindings the emulator
runs (queues, R2, D1, workflows, services, Durable Objects, KV, vars) are checked in full,
rarer binding types with their type/binding-name checks.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from pathlib import Path
from typing import Any
from collections.abc import Callable

from emulator.config.diagnostics import DiagnosticTree, KeyPath
from emulator.config.jsonc import dumps_js
from emulator.config.loader import file_format
from emulator.config.jsvalues import (
    UNDEF, coalesce, english_list, get, has, is_date, is_record, keys, nullish, stringify,
    truthy, typeof,
)

Validator = Callable[[DiagnosticTree, str, Any, Any, KeyPath], bool]

BOLD = "\x1b[1m"
NORMAL = "\x1b[0m"

# Keys of wrangler's normalized environment, in wrangler's order (the order the Pages
# "unsupported field" errors and the unknown-field checks follow).
ENVIRONMENT_FIELDS = (
    "account_id", "compatibility_date", "compatibility_flags", "jsx_factory", "jsx_fragment",
    "tsconfig", "rules", "name", "main", "find_additional_modules", "preserve_file_names",
    "base_dir", "route", "routes", "triggers", "assets", "limits", "placement", "build",
    "workers_dev", "preview_urls", "vars", "secrets", "define", "durable_objects", "workflows",
    "migrations", "kv_namespaces", "cloudchamber", "containers", "send_email", "queues",
    "r2_buckets", "d1_databases", "vectorize", "ai_search_namespaces", "ai_search",
    "hyperdrive", "services", "analytics_engine_datasets", "dispatch_namespaces",
    "mtls_certificates", "tail_consumers", "streaming_tail_consumers", "unsafe", "browser",
    "ai", "images", "stream", "media", "pipelines", "secrets_store_secrets", "artifacts",
    "unsafe_hello_world", "flagship", "worker_loaders", "ratelimits", "vpc_services",
    "vpc_networks", "version_metadata", "logfwdr", "no_bundle", "minify", "keep_names",
    "first_party_worker", "logpush", "upload_source_maps", "observability", "cache",
    "compliance_region", "python_modules", "previews",
)
COMPUTED_FIELDS = ("configPath", "userConfigPath", "topLevelName", "definedEnvironments",
                   "targetEnvironment")
TOP_LEVEL_HEAD = COMPUTED_FIELDS + ("pages_build_output_dir", "legacy_env", "send_metrics",
                                    "keep_vars")
TOP_LEVEL_TAIL = ("dev", "site", "alias", "wasm_modules", "text_blobs", "data_blobs")

# friendlyBindingNames, in wrangler's order (it decides "X assigned to A and B bindings.").
FRIENDLY_BINDING_NAMES = (
    ("data_blobs", "Data Blob"), ("durable_objects", "Durable Object"),
    ("kv_namespaces", "KV Namespace"), ("send_email", "Send Email"), ("queues", "Queue"),
    ("d1_databases", "D1 Database"), ("vectorize", "Vectorize Index"),
    ("ai_search_namespaces", "AI Search Namespace"), ("ai_search", "AI Search Instance"),
    ("hyperdrive", "Hyperdrive Config"), ("r2_buckets", "R2 Bucket"), ("logfwdr", "logfwdr"),
    ("services", "Worker"), ("analytics_engine_datasets", "Analytics Engine Dataset"),
    ("text_blobs", "Text Blob"), ("browser", "Browser Run"), ("ai", "AI"),
    ("images", "Images"), ("stream", "Stream"), ("media", "Media"),
    ("version_metadata", "Worker Version Metadata"), ("unsafe", "Unsafe Metadata"),
    ("vars", "Environment Variable"), ("wasm_modules", "Wasm Module"),
    ("dispatch_namespaces", "Dispatch Namespace"), ("mtls_certificates", "mTLS Certificate"),
    ("workflows", "Workflow"), ("pipelines", "Pipeline"),
    ("secrets_store_secrets", "Secrets Store Secret"), ("artifacts", "Artifacts"),
    ("ratelimits", "Rate Limit"), ("assets", "Assets"), ("unsafe_hello_world", "Hello World"),
    ("flagship", "Flagship"), ("worker_loaders", "Worker Loader"),
    ("vpc_services", "VPC Service"), ("vpc_networks", "VPC Network"),
)

BUCKET_FORMAT = ("Bucket names must begin and end with an alphanumeric character, only contain "
                 "lowercase letters, numbers, and hyphens, and be between 3 and 63 characters long.")
WORKFLOW_NAME_FORMAT = ("Workflow names must be 1-64 characters long, start with a letter, number, "
                        "or underscore, and may only contain letters, numbers, underscores, or hyphens.")
_NAME_RE = re.compile(r"^$|^[a-z0-9_][a-z0-9-_]*$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_WORKFLOW_NAME_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9-_]*$")


def config_file_name(config_path: Path | None) -> str:
    """Wrangler's ``configFileName``: the name used inside messages."""
    fmt = "other" if config_path is None else file_format(config_path)
    return "Wrangler configuration" if fmt == "other" else f"wrangler.{fmt}"


def _field_path(field: str, top: Any, env_name: str) -> str:
    return field if top is None else f"env.{env_name}.{field}"


def _js_date_valid(value: str) -> bool:
    """Whether ``new Date(value)`` is a valid date, for the strings people write here."""
    v = value.strip()
    if re.fullmatch(r"[+-]?\d{4,6}(-\d{2}(-\d{2})?)?", v):
        parts = v.lstrip("+-").split("-")
        try:
            year = int(parts[0])
            month = int(parts[1]) if len(parts) > 1 else 1
            day = int(parts[2]) if len(parts) > 2 else 1
            # V8 accepts day 1..31 for any month in ISO date-only strings (2025-02-30 is
            # valid and rolls over); only ranges are checked.
            return 1 <= month <= 12 and 1 <= day <= 31 and year >= 0
        except ValueError:
            return False
    if "-" in v or ":" in v:
        try:
            _dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
            return True
        except ValueError:
            pass
    m = re.fullmatch(r"(\d{1,6})[-/.](\d{1,2})[-/.](\d{1,2})", v)
    if m:  # V8's legacy parser: "2025-1-1", "2025.01.01"
        return 1 <= int(m.group(2)) <= 12 and 1 <= int(m.group(3)) <= 31
    # Legacy formats V8 also accepts ("Jan 1 2025", "2025/01/01").
    for fmt in ("%Y/%m/%d", "%m/%d/%Y", "%b %d %Y", "%B %d %Y", "%d %b %Y", "%a %b %d %Y"):
        try:
            _dt.datetime.strptime(v, fmt)
            return True
        except ValueError:
            continue
    return False


# ---------------------------------------------------------------------------------------------
# generic helpers (validation-helpers.ts)


def validate_required(d: DiagnosticTree, container: str, key: str, value: Any, type_: str,
                      path: KeyPath, choices: list[Any] | None = None) -> bool:
    prefix = f"{container}." if container else ""
    if value is UNDEF:
        d.error(f'"{prefix}{key}" is a required field.', path)
        return False
    if typeof(value) != type_:
        d.error(f'Expected "{prefix}{key}" to be of type {type_} but got {stringify(value)}.', path)
        return False
    if choices is not None and value not in choices:
        d.error(f'Expected "{prefix}{key}" field to be one of {stringify(choices)} but got '
                f'{stringify(value)}.', path)
        return False
    return True


def validate_optional(d: DiagnosticTree, container: str, key: str, value: Any, type_: str,
                      path: KeyPath, choices: list[Any] | None = None) -> bool:
    if value is not UNDEF:
        return validate_required(d, container, key, value, type_, path, choices)
    return True


def validate_typed_array(d: DiagnosticTree, container: str, value: Any, type_: str,
                         path: KeyPath) -> bool:
    if not isinstance(value, list):
        d.error(f'Expected "{container}" to be an array of {type_}s but got {stringify(value)}', path)
        return False
    ok = True
    for i, item in enumerate(value):
        ok = validate_required(d, container, f"[{i}]", item, type_, path + (i,)) and ok
    return ok


def validate_optional_typed_array(d: DiagnosticTree, container: str, value: Any, type_: str,
                                  path: KeyPath) -> bool:
    if value is not UNDEF:
        return validate_typed_array(d, container, value, type_, path)
    return True


def is_required_property(target: Any, prop: str, type_: str, choices: list[Any] | None = None) -> bool:
    return has(target, prop) and typeof(target[prop]) == type_ and (
        choices is None or target[prop] in choices)


def is_optional_property(target: Any, prop: str, type_: str) -> bool:
    return not has(target, prop) or typeof(target[prop]) == type_


def validate_additional_properties(d: DiagnosticTree, field_path: str, rest: list[str],
                                   known: list[str] | tuple[str, ...], path: KeyPath) -> bool:
    unknown = [k for k in dict.fromkeys(rest) if k not in set(known)]
    if unknown:
        d.warn(f"Unexpected fields found in {field_path} field: " + ",".join(f'"{k}"' for k in unknown),
               path + (unknown[0],))
        return False
    return True


def is_remote_valid(target: Any, field_path: str, d: DiagnosticTree, path: KeyPath) -> bool:
    if not is_optional_property(target, "remote", "boolean"):
        d.error(f'"{field_path}" should, optionally, have a boolean "remote" field but got '
                f"{stringify(target)}.", path + ("remote",))
        return False
    return True


def _is_string(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    if value is not UNDEF and typeof(value) != "string":
        d.error(f'Expected "{field}" to be of type string but got {stringify(value)}.', path)
        return False
    return True


def _is_boolean(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    if value is not UNDEF and typeof(value) != "boolean":
        d.error(f'Expected "{field}" to be of type boolean but got {stringify(value)}.', path)
        return False
    return True


def _is_string_array(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    if value is not UNDEF and (not isinstance(value, list) or any(typeof(v) != "string" for v in value)):
        d.error(f'Expected "{field}" to be of type string array but got {stringify(value)}.', path)
        return False
    return True


def _is_valid_name(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    if (typeof(value) == "string" and _NAME_RE.search(value)) or value is UNDEF:
        return True
    d.error(f'Expected "{field}" to be of type string, alphanumeric and lowercase with dashes only '
            f"but got {stringify(value)}.", path)
    return False


def _is_one_of(*choices: Any) -> Validator:
    def check(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
        if value is not UNDEF and value not in choices:
            d.error(f'Expected "{field}" field to be one of {stringify(list(choices))} but got '
                    f"{stringify(value)}.", path)
            return False
        return True
    return check


def _validate_compatibility_date(d: DiagnosticTree, field: str, value: Any, _top: Any,
                                 path: KeyPath) -> bool:
    if value is UNDEF:
        return True
    if typeof(value) != "string":
        d.error(f'Expected "{field}" to be of type string but got {stringify(value)}.', path)
        return False
    ok = True
    if "\u2013" in value or "\u2014" in value:
        d.error(f'"{field}" field should use ISO-8601 accepted hyphens (-) rather than en-dashes '
                f"(\u2013) or em-dashes (\u2014).", path)
        ok = False
    if not _js_date_valid(re.sub("[\u2013\u2014]", "-", value)):
        d.error(f'"{field}" field should be a valid ISO-8601 date (YYYY-MM-DD), but got '
                f"{stringify(value)}.", path)
        ok = False
    return ok


def _always(*_args: Any) -> bool:
    return True


def binding_names(value: Any) -> list[Any]:
    """Wrangler's ``getBindingNames``."""
    if not _is_object(value):
        return []
    if (is_record(value) and "bindings" in value and isinstance(value["bindings"], list)
            and all(is_record(b) and "name" in b and typeof(b["name"]) == "string"
                    for b in value["bindings"])):
        return [b["name"] for b in value["bindings"]]
    if isinstance(value, list) and all(is_record(e) and "binding" in e and typeof(e["binding"]) == "string"
                                       for e in value):
        return [e["binding"] for e in value]
    if is_record(value):
        if get(value, "binding") is not UNDEF:
            return [value["binding"]]
        return [k for k, v in value.items() if v is not UNDEF]
    return []


# ---------------------------------------------------------------------------------------------


class Normalizer:
    """One run of wrangler's normalize-and-validate over one raw config."""

    def __init__(self, config_path: Path | None, cwd: Path | None = None) -> None:
        self.config_path = config_path
        self.cwd = cwd or Path.cwd()
        self.file_name = config_file_name(config_path)
        self.config_dir = (config_path.parent if config_path else Path("."))

    # -- environment-level plumbing ----------------------------------------------------------
    def inheritable(self, d: DiagnosticTree, top: Any, raw_env: dict[str, Any], field: str,
                    validate: Validator, default: Any, base: KeyPath,
                    transform: Callable[[Any], Any] = lambda v: v) -> Any:
        validate(d, field, get(raw_env, field), top, base + (field,))
        own = get(raw_env, field) if raw_env is not top else UNDEF
        return coalesce(own, transform(get(top, field) if top is not None else UNDEF), default)

    def not_inheritable(self, d: DiagnosticTree, top: Any, raw_config: Any, raw_env: dict[str, Any],
                        env_name: str, field: str, validate: Validator, default: Any,
                        base: KeyPath) -> Any:
        value = get(raw_env, field)
        if value is not UNDEF:
            validate(d, field, value, top, base + (field,))
        elif raw_config is not None and get(raw_config, field) is not UNDEF:
            d.warn(f'"{field}" exists at the top level, but not on "env.{env_name}".\n'
                   f'This is not what you probably want, since "{field}" is not inherited by environments.\n'
                   f'Please add "{field}" to "env.{env_name}".', base)
        return coalesce(value, default)

    # -- field validators that know the env name --------------------------------------------
    def _vars(self, env_name: str) -> Validator:
        def check(d: DiagnosticTree, field: str, value: Any, top: Any, path: KeyPath) -> bool:
            ok = True
            fp = _field_path(field, top, env_name)
            if value is not UNDEF:
                if not is_record(value):
                    if not isinstance(value, list):
                        d.error(f'The field "{fp}" should be an object but got {stringify(value)}.\n', path)
                        ok = False
                else:
                    for name, v in value.items():
                        if is_date(v):
                            d.error(f'The field "{fp}.{name}" is a TOML date, which is not supported. '
                                    f'Please use a string instead, e.g. {name} = "2025-12-19".', path + (name,))
                            ok = False
            top_vars = keys(get(top, "vars")) if top is not None and not nullish(get(top, "vars")) else []
            if top_vars and isinstance(value, (dict, list)):
                for name in top_vars:
                    if name not in keys(value):
                        d.warn(f'"vars.{name}" exists at the top level, but not on "{fp}".\n'
                               'This is not what you probably want, since "vars" configuration is not '
                               'inherited by environments.\n'
                               f'Please add "vars.{name}" to "env.{env_name}".', path)
            return ok
        return check

    def _defines(self, env_name: str) -> Validator:
        def check(d: DiagnosticTree, field: str, value: Any, top: Any, path: KeyPath) -> bool:
            ok = True
            fp = _field_path(field, top, env_name)
            if isinstance(value, (dict, list)):
                for name in keys(value):
                    v = get(value, name) if is_record(value) else value[int(name)]
                    if typeof(v) != "string":
                        d.error(f'The field "{fp}.{name}" should be a string but got {stringify(v)}.',
                                path + (name,))
                        ok = False
            elif value is not UNDEF:
                d.error(f'The field "{fp}" should be an object but got {stringify(value)}.\n', path)
                ok = False
            top_defines = keys(get(top, "define")) if top is not None and not nullish(get(top, "define")) else []
            if top_defines and isinstance(value, (dict, list)):
                env_defines = [] if top is None else keys(value)
                for name in top_defines:
                    if name not in keys(value):
                        d.warn(f'"define.{name}" exists at the top level, but not on "{fp}".\n'
                               'This is not what you probably want, since "define" configuration is not '
                               'inherited by environments.\n'
                               f'Please add "define.{name}" to "env.{env_name}".', path)
                for name in env_defines:
                    if name not in top_defines:
                        d.warn(f'"{name}" exists on "env.{env_name}", but not on the top level.\n'
                               'This is not what you probably want, since "define" configuration within '
                               'environments can only override existing top level "define" configuration\n'
                               f'Please remove "{fp}.{name}", or add "define.{name}".', path + (name,))
            return ok
        return check

    def _secrets(self, env_name: str) -> Validator:
        def check(d: DiagnosticTree, field: str, value: Any, top: Any, path: KeyPath) -> bool:
            fp = _field_path(field, top, env_name)
            if value is UNDEF:
                return True
            if not is_record(value):
                d.error(f'The field "{fp}" should be an object but got {stringify(value)}.', path)
                return False
            validate_additional_properties(d, fp, keys(value), ["required"], path)
            return validate_optional_typed_array(d, f"{fp}.required", get(value, "required"), "string",
                                                 path + ("required",))
        return check

    def _binding_array(self, env_name: str, validate_binding: Validator) -> Validator:
        def check(d: DiagnosticTree, field: str, value: Any, top: Any, path: KeyPath) -> bool:
            if value is UNDEF:
                return True
            fp = _field_path(field, top, env_name)
            if not isinstance(value, list):
                d.error(f'The field "{fp}" should be an array but got {stringify(value)}.', path)
                return False
            ok = True
            for i, item in enumerate(value):
                ok = validate_binding(d, f"{fp}[{i}]", item, top, path + (i,)) and ok
            # `config?.[field]`: for "queues.producers" that key never exists, so wrangler never
            # warns about producers missing from an env.
            top_value = get(top, field) if top is not None else UNDEF
            if isinstance(top_value, list):
                top_names = [get(v, "binding") for v in top_value]
                if top_names:
                    env_names = {_hashable(get(v, "binding")) for v in value}
                    for name in top_names:
                        if _hashable(name) not in env_names:
                            shown = "undefined" if name is UNDEF else str(name)
                            d.warn(f'There is a {field} binding with name "{shown}" at the top level, but '
                                   f'not on "env.{env_name}".\n'
                                   f'This is not what you probably want, since "{field}" configuration is '
                                   'not inherited by environments.\n'
                                   f'Please add a binding for "{shown}" to "env.{env_name}.{field}.bindings".',
                                   path)
            return ok
        return check

    def _bindings_property(self, env_name: str, validate_binding: Validator) -> Validator:
        def check(d: DiagnosticTree, field: str, value: Any, top: Any, path: KeyPath) -> bool:
            ok = True
            fp = _field_path(field, top, env_name)
            if value is UNDEF:
                return True
            if not is_record(value):
                d.error(f'The field "{fp}" should be an object but got {stringify(value)}.', path)
                ok = False
            elif "bindings" not in value:
                d.error(f'The field "{fp}" is missing the required "bindings" property.', path)
                ok = False
            elif not isinstance(value["bindings"], list):
                d.error(f'The field "{fp}.bindings" should be an array but got '
                        f'{stringify(value["bindings"])}.', path + ("bindings",))
                ok = False
            else:
                for i, binding in enumerate(value["bindings"]):
                    child = DiagnosticTree(f'"{fp}.bindings[{i}]": {stringify(binding)}')
                    ok = validate_binding(child, f"{fp}.bindings[{i}]", binding, top,
                                          path + ("bindings", i)) and ok
                    d.add_child(child)
            top_names = binding_names(get(top, field)) if top is not None else []
            if ok and top_names:
                env_names = {_hashable(n) for n in binding_names(value)}
                missing = [n for n in top_names if _hashable(n) not in env_names]
                if missing:
                    d.warn(f'The following bindings are at the top level, but not on "env.{env_name}".\n'
                           f'This is not what you probably want, since "{field}" configuration is not '
                           'inherited by environments.\n'
                           f'Please add a binding for each to "{fp}.bindings":\n'
                           + "\n".join(f"- {n}" for n in missing), path)
            return ok
        return check

    def _queues(self, env_name: str) -> Validator:
        def check(d: DiagnosticTree, field: str, value: Any, top: Any, path: KeyPath) -> bool:
            if value is UNDEF:
                return True
            fp = _field_path(field, top, env_name)
            if not is_record(value):
                d.error(f'The field "{fp}" should be an object but got {stringify(value)}.', path)
                return False
            ok = validate_additional_properties(d, fp, keys(value), ["consumers", "producers"], path)
            if "consumers" in value:
                consumers = value["consumers"]
                if not isinstance(consumers, list):
                    d.error(f'The field "{fp}.consumers" should be an array but got '
                            f"{stringify(consumers)}.", path + ("consumers",))
                    ok = False
                # wrangler then loops over `consumers.length`: a string is walked char by char.
                items = consumers if isinstance(consumers, (list, str)) else []
                for i, consumer in enumerate(items):
                    if not _validate_consumer(d, f"{fp}.consumers[{i}]", consumer,
                                              path + ("consumers", i)):
                        ok = False
            if "producers" in value and not self._binding_array(env_name, _validate_queue_binding)(
                    d, f"{field}.producers", value["producers"], top, path + ("producers",)):
                ok = False
            return ok
        return check

    def _rules(self, env_name: str) -> Validator:
        def check(d: DiagnosticTree, field: str, value: Any, top: Any, path: KeyPath) -> bool:
            if not truthy(value):
                return True
            fp = _field_path(field, top, env_name)
            if not isinstance(value, list):
                d.error(f'The field "{fp}" should be an array but got {stringify(value)}.', path)
                return False
            ok = True
            for i, rule in enumerate(value):
                ok = _validate_rule(d, f"{fp}[{i}]", rule, path + (i,)) and ok
            return ok
        return check

    def _named_simple(self, env_name: str, check_extra: bool = True, remote: bool = True) -> Validator:
        def check(d: DiagnosticTree, field: str, value: Any, top: Any, path: KeyPath) -> bool:
            fp = _field_path(field, top, env_name)
            if not is_record(value):
                d.error(f'The field "{fp}" should be an object but got {stringify(value)}.', path)
                return False
            ok = True
            if not is_required_property(value, "binding", "string"):
                d.error('binding should have a string "binding" field.', path + ("binding",))
                ok = False
            if remote and not is_remote_valid(value, field, d, path):
                ok = False
            if check_extra:
                validate_additional_properties(d, field, keys(value), ["binding", "remote"], path)
            return ok
        return check

    def _unsafe(self, env_name: str) -> Validator:
        def check(d: DiagnosticTree, field: str, value: Any, top: Any, path: KeyPath) -> bool:
            fp = _field_path(field, top, env_name)
            if not is_record(value):
                d.error(f'The field "{fp}" should be an object but got {stringify(value)}.', path)
                return False
            if (has(value, "bindings") and value["bindings"] is not UNDEF
                    and not self._bindings_property(env_name, _validate_unsafe_binding)(d, field, value, top, path)):
                return False
            metadata = get(value, "metadata")
            if metadata is not UNDEF and not is_record(metadata):
                d.error(f'The field "{fp}.metadata" should be an object but got {stringify(metadata)}.',
                        path + ("metadata",))
                return False
            validate_additional_properties(d, field, keys(value), ["bindings", "metadata", "capnp"], path)
            return True
        return check

    # -- the environment ---------------------------------------------------------------------
    def normalize_environment(self, d: DiagnosticTree, raw_env: dict[str, Any], env_name: str = "top level",
                              top: dict[str, Any] | None = None, service_envs: bool = False,
                              raw_config: dict[str, Any] | None = None,
                              base: KeyPath = ()) -> dict[str, Any]:
        if "node_compat" in raw_env:
            d.error(f'{BOLD}Removed{NORMAL}: "node_compat":\nThe "node_compat" field is no longer '
                    "supported as of Wrangler v4. Instead, use the `nodejs_compat` compatibility flag. "
                    "This includes the functionality from legacy `node_compat` polyfills and natively "
                    "implemented Node.js APIs. See https://developers.cloudflare.com/workers/runtime-apis/nodejs "
                    "for more information.", base + ("node_compat",))
            if raw_env is not top:
                # wrangler deletes the removed field, so it is not "unexpected" as well.
                del raw_env["node_compat"]
        experimental_off = "WRANGLER_DISABLE_EXPERIMENTAL_WARNING" in os.environ
        for field in ("unsafe", "secrets"):
            if field in raw_env and not experimental_off:
                d.warn(f'"{field}" fields are experimental and may change or break at any time.',
                       base + (field,))

        inh = lambda field, validate, default=UNDEF, transform=(lambda v: v): self.inheritable(  # noqa: E731 - short local helpers over the shared arguments
            d, top, raw_env, field, validate, default, base, transform)
        ninh = lambda field, validate, default=UNDEF: self.not_inheritable(  # noqa: E731 - short local helpers over the shared arguments
            d, top, raw_config, raw_env, env_name, field, validate, default, base)

        # route / account_id / routes / workers_dev / preview_urls / build are computed first.
        if get(raw_env, "route") == "":
            d.warn('The "route" field in your configuration is an empty string and will be ignored.\n'
                   'Please remove the "route" field from your configuration.', base + ("route",))
            raw_env = dict(raw_env, route=UNDEF) if raw_env is not top else raw_env
        route = inh("route", _is_route)
        if get(raw_env, "account_id") == "":
            d.warn('The "account_id" field in your configuration is an empty string and will be ignored.\n'
                   'Please remove the "account_id" field from your configuration.', base + ("account_id",))
            raw_env = dict(raw_env, account_id=UNDEF) if raw_env is not top else raw_env
        if service_envs and top is not None:
            account_id = self._not_in_service_env(d, top, raw_env, "account_id", base)
        else:
            account_id = inh("account_id", _is_string)
        routes = inh("routes", _routes_validator(raw_env))
        workers_dev = inh("workers_dev", _is_boolean)
        preview_urls = inh("preview_urls", _is_boolean)
        raw_build = coalesce(get(raw_env, "build"), get(top, "build") if top is not None else UNDEF, {})
        build = _normalize_build(d, raw_build, self.config_path, base)

        env: dict[str, Any] = {}
        env["account_id"] = account_id
        env["compatibility_date"] = inh("compatibility_date", _validate_compatibility_date)
        env["compatibility_flags"] = inh("compatibility_flags", _is_string_array, [])
        env["jsx_factory"] = inh("jsx_factory", _is_string, "React.createElement")
        env["jsx_fragment"] = inh("jsx_fragment", _is_string, "React.Fragment")
        tsconfig = inh("tsconfig", _is_string)
        env["tsconfig"] = tsconfig
        env["rules"] = inh("rules", self._rules(env_name), [])
        name_validator = _is_valid_name
        if service_envs and top is not None:
            env["name"] = self._not_in_service_env(d, top, raw_env, "name", base)
        else:
            env["name"] = inh("name", name_validator, UNDEF,
                              lambda v: f"{v}-{env_name}" if truthy(v) else UNDEF)
        main = inh("main", _is_string)
        env["main"] = self._resolve_path(main)
        env["find_additional_modules"] = inh("find_additional_modules", _is_boolean)
        env["preserve_file_names"] = inh("preserve_file_names", _is_boolean)
        env["base_dir"] = self._resolve_path(inh("base_dir", _is_string))
        env["route"] = route
        env["routes"] = routes
        env["triggers"] = inh("triggers", _validate_triggers, {"crons": UNDEF})
        env["assets"] = inh("assets", _validate_assets)
        env["limits"] = self._limits(d, top, raw_env, base)
        env["placement"] = self._placement(d, top, raw_env, base)
        env["build"] = build
        env["workers_dev"] = workers_dev
        env["preview_urls"] = preview_urls
        env["vars"] = ninh("vars", self._vars(env_name), {})
        env["secrets"] = ninh("secrets", self._secrets(env_name))
        env["define"] = ninh("define", self._defines(env_name), {})
        env["durable_objects"] = ninh("durable_objects",
                                      self._bindings_property(env_name, _validate_durable_object_binding),
                                      {"bindings": []})
        env["workflows"] = ninh("workflows", _all(self._binding_array(env_name, _validate_workflow_binding),
                                                  _validate_unique_name), [])
        env["migrations"] = inh("migrations", _validate_migrations, [])
        env["kv_namespaces"] = ninh("kv_namespaces", self._binding_array(env_name, _validate_kv_binding), [])
        env["cloudchamber"] = ninh("cloudchamber", _validate_cloudchamber, {})
        env["containers"] = ninh("containers", _validate_containers)
        env["send_email"] = ninh("send_email", self._binding_array(env_name, _validate_send_email_binding), [])
        env["queues"] = ninh("queues", self._queues(env_name), {"producers": [], "consumers": []})
        env["r2_buckets"] = ninh("r2_buckets", self._binding_array(env_name, _validate_r2_binding), [])
        env["d1_databases"] = ninh("d1_databases", self._binding_array(env_name, _validate_d1_binding), [])
        env["vectorize"] = ninh("vectorize", self._binding_array(env_name, _validate_vectorize_binding), [])
        for field in ("ai_search_namespaces", "ai_search", "hyperdrive"):
            env[field] = ninh(field, self._binding_array(env_name, _simple_binding(field)), [])
        env["services"] = ninh("services", self._binding_array(env_name, _validate_service_binding), [])
        env["analytics_engine_datasets"] = ninh(
            "analytics_engine_datasets", self._binding_array(env_name, _validate_analytics_engine_binding), [])
        env["dispatch_namespaces"] = ninh("dispatch_namespaces",
                                          self._binding_array(env_name, _validate_dispatch_namespace), [])
        env["mtls_certificates"] = ninh("mtls_certificates",
                                        self._binding_array(env_name, _simple_binding("mtls_certificates")), [])
        env["tail_consumers"] = ninh("tail_consumers", _validate_tail_consumers)
        env["streaming_tail_consumers"] = ninh("streaming_tail_consumers", _validate_streaming_tail_consumers)
        env["unsafe"] = ninh("unsafe", self._unsafe(env_name), {})
        env["browser"] = ninh("browser", self._named_simple(env_name))
        env["ai"] = ninh("ai", self._named_simple(env_name, check_extra=False))
        for field in ("images", "stream", "media"):
            env[field] = ninh(field, self._named_simple(env_name))
        for field in ("pipelines", "secrets_store_secrets", "artifacts", "unsafe_hello_world", "flagship",
                      "worker_loaders"):
            env[field] = ninh(field, self._binding_array(env_name, _simple_binding(field)), [])
        env["ratelimits"] = ninh("ratelimits", self._binding_array(env_name, _validate_ratelimit), [])
        env["vpc_services"] = ninh("vpc_services", self._binding_array(env_name, _simple_binding("vpc_services")), [])
        env["vpc_networks"] = ninh("vpc_networks", self._binding_array(env_name, _validate_vpc_network), [])
        env["version_metadata"] = ninh("version_metadata",
                                       self._named_simple(env_name, check_extra=False, remote=False))
        env["logfwdr"] = inh("logfwdr", self._bindings_property(env_name, _validate_logfwdr_binding),
                             {"bindings": []})
        for field in ("no_bundle", "minify", "keep_names", "first_party_worker", "logpush",
                      "upload_source_maps"):
            env[field] = inh(field, _is_boolean)
        env["observability"] = inh("observability", _validate_observability)
        env["cache"] = inh("cache", _validate_cache)
        env["compliance_region"] = inh("compliance_region", _is_one_of("public", "fedramp_high"))
        env["python_modules"] = inh("python_modules", _validate_python_modules, {"exclude": ["**/*.pyc"]})
        env["previews"] = inh("previews", _validate_previews)

        self._warn_durable_objects_without_migrations(d, env["durable_objects"], env["migrations"], base)
        if env_name != "top level":
            validate_additional_properties(d, "env." + env_name, keys(raw_env), list(env.keys()), base)
        return env

    def _not_in_service_env(self, d: DiagnosticTree, top: dict[str, Any], raw_env: dict[str, Any],
                            field: str, base: KeyPath) -> Any:
        if field in raw_env:
            d.error(f'The "{field}" field is not allowed in named service environments.\n'
                    "Please remove the field from this environment.", base + (field,))
        return get(top, field)

    def _resolve_path(self, value: Any) -> Any:
        # Node's path.resolve: purely lexical (no symlinks, no file system access).
        if typeof(value) == "string":
            return os.path.normpath(os.path.join(str(self.cwd), str(self.config_dir), value))
        return value

    def _limits(self, d: DiagnosticTree, top: Any, raw_env: dict[str, Any], base: KeyPath) -> Any:
        limits = get(raw_env, "limits")
        if truthy(limits):
            validate_optional(d, "limits", "cpu_ms", get(limits, "cpu_ms"), "number", base + ("limits", "cpu_ms"))
            validate_optional(d, "limits", "subrequests", get(limits, "subrequests"), "number",
                              base + ("limits", "subrequests"))
        return self.inheritable(d, top, raw_env, "limits", _always, UNDEF, base)

    def _placement(self, d: DiagnosticTree, top: Any, raw_env: dict[str, Any], base: KeyPath) -> Any:
        placement = get(raw_env, "placement")
        p = base + ("placement",)
        if truthy(placement):
            has_hint, has_region = has(placement, "hint"), has(placement, "region")
            has_host, has_hostname = has(placement, "host"), has(placement, "hostname")
            targeted = has_region or has_host or has_hostname
            if has_hint and targeted:
                d.error('"placement" cannot have both "hint" (smart format) and "region"/"host"/"hostname" '
                        "(targeted format) fields", p)
            elif has_hint:
                validate_required(d, "placement", "mode", get(placement, "mode"), "string", p + ("mode",),
                                  ["off", "smart"])
                mode, hint = get(placement, "mode"), get(placement, "hint")
                if hint is not UNDEF and typeof(hint) != "string":
                    d.error(f'"placement.hint" must be a string when "placement.mode" is "{_js_str(mode)}"',
                            p + ("hint",))
                if truthy(hint) and mode != "smart":
                    d.error('"placement.hint" can only be set when "placement.mode" is "smart"', p + ("hint",))
            elif targeted:
                validate_optional(d, "placement", "mode", get(placement, "mode"), "string", p + ("mode",),
                                  ["off", "targeted"])
                present = [f for f, h in (("region", has_region), ("host", has_host),
                                          ("hostname", has_hostname)) if h]
                for f in present:
                    validate_optional(d, "placement", f, get(placement, f), "string", p + (f,))
                if len(present) > 1:
                    d.error('"placement" fields ' + ", ".join(f'"{f}"' for f in present)
                            + " are mutually exclusive. Only one can be specified.", p)
            else:
                validate_required(d, "placement", "mode", get(placement, "mode"), "string", p + ("mode",),
                                  ["off", "smart", "targeted"])
        return self.inheritable(d, top, raw_env, "placement", _always, UNDEF, base)

    def _warn_durable_objects_without_migrations(self, d: DiagnosticTree, durable_objects: Any,
                                                 migrations: Any, base: KeyPath) -> None:
        bindings = get(durable_objects, "bindings")
        if not isinstance(bindings, list) or not bindings:
            return
        exported = [b for b in bindings if not truthy(get(b, "script_name"))]
        if not exported or (isinstance(migrations, list) and migrations) or not isinstance(migrations, list):
            return
        if any(typeof(get(b, "class_name")) != "string" for b in exported):
            return
        classes = [b["class_name"] for b in exported]
        name = self.file_name
        if name == "wrangler.toml":
            snippet = ('[[migrations]]\ntag = "v1"\nnew_sqlite_classes = [ '
                       + ", ".join(stringify(c) for c in classes) + " ]")
        else:
            import json
            snippet = json.dumps({"migrations": [{"tag": "v1", "new_sqlite_classes": classes}]},
                                 indent=2, ensure_ascii=False)
        # Matches what wrangler 4.86 printed in oracle sample p07 (dedent collapses the blank lines).
        d.warn(f"In your {name} file, you have configured `durable_objects` exported by this Worker "
               f"({', '.join(classes)}), but no `migrations` for them. This may not work as expected until "
               f"you add a `migrations` section to your {name} file. Add the following configuration:\n"
               f"```\n{snippet}\n```\n"
               "Refer to https://developers.cloudflare.com/durable-objects/reference/durable-objects-migrations/ "
               "for more details.", base + ("durable_objects",))

    # -- the whole config --------------------------------------------------------------------
    def normalize(self, raw: dict[str, Any], env_name: str | None,
                  display_path: str | None = None) -> tuple[dict[str, Any], DiagnosticTree]:
        shown = display_path if display_path is not None else (
            os.path.relpath(self.config_path, self.cwd) if self.config_path else "wrangler")
        d = DiagnosticTree(f"Processing {shown} configuration:")
        # wrangler mutates the raw config (e.g. deleting `node_compat`); work on copies.
        raw = dict(raw)
        if is_record(raw.get("env")):
            raw["env"] = {k: dict(v) if is_record(v) else v for k, v in raw["env"].items()}
        validate_optional(d, "", "legacy_env", get(raw, "legacy_env"), "boolean", ("legacy_env",))
        validate_optional(d, "", "send_metrics", get(raw, "send_metrics"), "boolean", ("send_metrics",))
        validate_optional(d, "", "keep_vars", get(raw, "keep_vars"), "boolean", ("keep_vars",))
        validate_optional(d, "", "pages_build_output_dir", get(raw, "pages_build_output_dir"), "string",
                          ("pages_build_output_dir",))
        validate_optional(d, "", "$schema", get(raw, "$schema"), "string", ("$schema",))
        legacy_env = coalesce(get(raw, "legacy_env"), True)
        service_envs = not truthy(legacy_env)
        if service_envs:
            d.warn("Service environments are deprecated, and will be removed in the future. "
                   "DO NOT USE IN PRODUCTION.", ("legacy_env",))
        top_env = self.normalize_environment(d, raw)
        raw_envs = get(raw, "env")
        defined_envs = keys(raw_envs) if not nullish(raw_envs) else []
        active = top_env
        is_pages = get(raw, "pages_build_output_dir") is not UNDEF
        if env_name:
            env_d = DiagnosticTree(f'"env.{env_name}" environment configuration')
            raw_env = get(raw_envs, env_name) if is_record(raw_envs) else UNDEF
            if raw_env is not UNDEF:
                env_raw = raw_env if is_record(raw_env) else {}
                active = self.normalize_environment(env_d, env_raw, env_name, top_env, service_envs, raw,
                                                    ("env", env_name))
                d.add_child(env_d)
            elif not is_pages:
                active = dict(top_env)
                top_name = top_env.get("name", UNDEF)
                active["name"] = f"{top_name}-{env_name}" if truthy(top_name) else UNDEF
                env_names = (f"The available configured environment names are: {stringify(keys(raw_envs))}\n"
                             if truthy(raw_envs) else "")
                message = (f'No environment found in configuration with name "{env_name}".\n'
                           f"Before using `--env={env_name}` there should be an equivalent environment "
                           "section in the configuration.\n"
                           f"{env_names}\n"
                           f"Consider adding an environment configuration section to the {self.file_name} "
                           f"file:\n```\n[env.{env_name}]\n```\n")
                if env_names:
                    d.error(message, ("env",) if raw_envs is not UNDEF else ())
                else:
                    d.warn(message, ())

        config: dict[str, Any] = {
            "configPath": str(self.config_path) if self.config_path else UNDEF,
            "userConfigPath": str(self.config_path) if self.config_path else UNDEF,
            "topLevelName": get(raw, "name"),
            "definedEnvironments": defined_envs,
            "targetEnvironment": env_name if env_name else UNDEF,
            "pages_build_output_dir": self._resolve_path(get(raw, "pages_build_output_dir")),
            "legacy_env": not service_envs,
            "send_metrics": get(raw, "send_metrics"),
            "keep_vars": get(raw, "keep_vars"),
        }
        config.update(active)
        config["dev"] = _normalize_dev(d, coalesce(get(raw, "dev"), {}))
        config["site"] = self._site(d, raw, active.get("main", UNDEF))
        config["alias"] = _normalize_alias(d, raw)
        for field in ("wasm_modules", "text_blobs", "data_blobs"):
            config[field] = _normalize_module_paths(d, field, get(raw, field))
        active_base: KeyPath = ("env", env_name) if (
            env_name and is_record(raw_envs) and is_record(get(raw_envs, env_name))) else ()
        validate_bindings_have_unique_names(d, config, is_pages, active_base)
        validate_additional_properties(d, "top-level", keys(raw), list(config.keys()) + ["env", "$schema"], ())
        return config, d

    def _site(self, d: DiagnosticTree, raw: dict[str, Any], main: Any) -> Any:
        site = get(raw, "site")
        if site is UNDEF:
            return UNDEF
        p = ("site",)
        bucket = get(site, "bucket")
        # JS destructuring defaults apply to `undefined` only (a null stays null and fails the check)
        include = get(site, "include") if get(site, "include") is not UNDEF else []
        exclude = get(site, "exclude") if get(site, "exclude") is not UNDEF else []
        rest = [k for k in keys(site) if k not in ("bucket", "include", "exclude")]
        validate_additional_properties(d, "site", rest, ["entry-point"], p)
        validate_required(d, "site", "bucket", bucket, "string", p + ("bucket",))
        validate_typed_array(d, "sites.include", include, "string", p + ("include",))
        validate_typed_array(d, "sites.exclude", exclude, "string", p + ("exclude",))
        entry = get(site, "entry-point")
        validate_optional(d, "site", "entry-point", entry, "string", p + ("entry-point",))
        if has(site, "entry-point"):
            shown = _js_str(entry) or "workers-site"
            target = shown if os.path.splitext(shown)[1] else os.path.join(shown, "index.js")
            d.warn(f'{BOLD}Deprecation{NORMAL}: "site.entry-point":\nDelete the `site.entry-point` field, then '
                   f'add the top level `main` field to your configuration file:\n```\nmain = "{target}"\n```',
                   p + ("entry-point",))
        if not truthy(main) and not truthy(entry):
            d.warn("Because you've defined a [site] configuration, we're defaulting to \"workers-site\" for "
                   "the deprecated `site.entry-point`field.\nAdd the top level `main` field to your "
                   'configuration file:\n```\nmain = "workers-site/index.js"\n```', p)
            entry = "workers-site"
        elif truthy(main) and truthy(entry):
            d.error("Don't define both the `main` and `site.entry-point` fields in your configuration.\n"
                    "They serve the same purpose: to point to the entry-point of your worker.\n"
                    "Delete the deprecated `site.entry-point` field from your config.", p + ("entry-point",))
        return {"bucket": bucket, "entry-point": entry, "include": include, "exclude": exclude}


def _is_object(value: Any) -> bool:
    """``typeof value === "object" && value !== null`` for parsed config values (records and arrays)."""
    return isinstance(value, (dict, list))


def _hashable(value: Any) -> Any:
    try:
        hash(value)
        return value
    except TypeError:
        # Arrays/objects compare by their JSON text (iterative: values may nest deeply).
        return ("json", dumps_js(value, undefined=UNDEF))


def _js_str(value: Any) -> str:
    """``${value}`` / ``String(value)`` in a JS template."""
    if value is UNDEF:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return _js_array_str(value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def _js_array_str(value: list[Any]) -> str:
    """``String(array)``: items joined with commas, nested arrays likewise, null/undefined as
    empty; with an explicit stack, since config values may nest deeply."""
    # Each frame: [the array, index of the next item, the strings of the items so far].
    stack: list[list[Any]] = [[value, 0, []]]
    while True:
        frame = stack[-1]
        items, index, parts = frame
        if index == len(items):
            stack.pop()
            text = ",".join(parts)
            if not stack:
                return text
            stack[-1][2].append(text)
            continue
        frame[1] = index + 1
        item = items[index]
        if isinstance(item, list):
            stack.append([item, 0, []])
        else:
            parts.append("" if item is None or item is UNDEF else _js_str(item))


def _all(*validators: Validator) -> Validator:
    def check(d: DiagnosticTree, field: str, value: Any, top: Any, path: KeyPath) -> bool:
        ok = True
        for v in validators:
            if not v(d, field, value, top, path):
                ok = False
        return ok
    return check


def _is_valid_route_value(item: Any) -> bool:
    if not truthy(item):
        return False
    if typeof(item) == "string":
        return True
    if is_record(item):
        if typeof(get(item, "pattern")) != "string":
            return False
        flags = {
            "zone_id": typeof(get(item, "zone_id")) == "string" and has(item, "zone_id"),
            "zone_name": typeof(get(item, "zone_name")) == "string" and has(item, "zone_name"),
            "custom_domain": typeof(get(item, "custom_domain")) == "boolean",
            "enabled": typeof(get(item, "enabled")) == "boolean",
            "previews_enabled": typeof(get(item, "previews_enabled")) == "boolean",
        }
        if sum(flags.values()) != len(item) - 1:
            return False
        if flags["zone_id"] and flags["zone_name"]:
            return False
        if (flags["enabled"] or flags["previews_enabled"]) and not flags["custom_domain"]:
            return False
        return flags["zone_id"] or flags["zone_name"] or flags["custom_domain"]
    return False


def _is_route(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    if value is not UNDEF and not _is_valid_route_value(value):
        d.error(f'Expected "{field}" to be either a string, or an object with shape {{ pattern, custom_domain, '
                f"zone_id | zone_name, enabled, previews_enabled }}, but got {stringify(value)}.", path)
        return False
    return True


def _routes_validator(raw_env: dict[str, Any]) -> Validator:
    def check(d: DiagnosticTree, field: str, value: Any, top: Any, path: KeyPath) -> bool:
        ok = True
        if value is not UNDEF:
            if not isinstance(value, list):
                d.error(f'Expected "{field}" to be an array but got {stringify(value)}.', path)
                ok = False
            else:
                invalid = [r for r in value if not _is_valid_route_value(r)]
                if invalid:
                    d.error(f'Expected "{field}" to be an array of either strings or objects with the shape '
                            "{ pattern, custom_domain, zone_id | zone_name, enabled, previews_enabled }, but "
                            f"these weren't valid: {dumps_js(invalid, indent=2, undefined=UNDEF)}.", path)
                    ok = False
        if value is not UNDEF and get(raw_env, "route") is not UNDEF:
            d.error(f'Expected exactly one of the following fields {stringify([field, "route"])}.', path)
            ok = False
        return ok
    return check


def _normalize_build(d: DiagnosticTree, raw_build: Any, config_path: Path | None, base: KeyPath) -> Any:
    p = base + ("build",)
    command, cwd = get(raw_build, "command"), get(raw_build, "cwd")
    watch_dir = get(raw_build, "watch_dir")
    if watch_dir is UNDEF:
        watch_dir = "./src"
    rest = [k for k in keys(raw_build) if k not in ("command", "cwd", "watch_dir")]
    validate_additional_properties(d, "build", rest, [], p)
    validate_optional(d, "build", "command", command, "string", p + ("command",))
    validate_optional(d, "build", "cwd", cwd, "string", p + ("cwd",))
    if isinstance(watch_dir, list):
        validate_typed_array(d, "build.watch_dir", watch_dir, "string", p + ("watch_dir",))
    else:
        validate_optional(d, "build", "watch_dir", watch_dir, "string", p + ("watch_dir",))
    if truthy(command) and config_path is not None:
        rel = lambda w: os.path.relpath(os.path.join(os.path.dirname(config_path), _js_str(w)))  # noqa: E731 - a one-line helper
        watch_dir = [rel(w) for w in watch_dir] if isinstance(watch_dir, list) else rel(watch_dir)
    return {"command": command, "watch_dir": watch_dir, "cwd": cwd}


def _normalize_dev(d: DiagnosticTree, raw_dev: Any) -> dict[str, Any]:
    p = ("dev",)
    known = ("ip", "port", "inspector_port", "inspector_ip", "local_protocol", "upstream_protocol", "host",
             "enable_containers", "container_engine", "generate_types")
    dev = {k: get(raw_dev, k) for k in known}
    if dev["ip"] is UNDEF:
        dev["ip"] = "localhost"
    if dev["local_protocol"] is UNDEF:
        dev["local_protocol"] = "http"
    if dev["upstream_protocol"] is UNDEF:
        dev["upstream_protocol"] = dev["local_protocol"]
    if dev["enable_containers"] is UNDEF:
        dev["enable_containers"] = True
    if dev["generate_types"] is UNDEF:
        dev["generate_types"] = False
    validate_additional_properties(d, "dev", [k for k in keys(raw_dev) if k not in known], [], p)
    for key, type_, choices in (("ip", "string", None), ("port", "number", None),
                                ("inspector_port", "number", None), ("inspector_ip", "string", None),
                                ("local_protocol", "string", ["http", "https"]),
                                ("upstream_protocol", "string", ["http", "https"]), ("host", "string", None),
                                ("enable_containers", "boolean", None), ("container_engine", "string", None),
                                ("generate_types", "boolean", None)):
        validate_optional(d, "dev", key, dev[key], type_, p + (key,), choices)
    return dev


def _normalize_alias(d: DiagnosticTree, raw: dict[str, Any]) -> Any:
    alias = get(raw, "alias")
    if alias is UNDEF:
        return UNDEF
    if typeof(alias) in ("string", "boolean", "number") or not isinstance(alias, (dict, list)) or alias is None:
        kind = "object" if alias is None or is_date(alias) else typeof(alias)
        d.error(f"Expected alias to be an object, but got {kind}", ("alias",))
        return UNDEF
    ok = True
    for k in keys(alias):
        v = get(alias, k) if is_record(alias) else alias[int(k)]
        if typeof(v) != "string":
            d.error(f'Expected alias["{k}"] to be a string, but got {typeof(v)}', ("alias", k))
            ok = False
    return alias if ok else UNDEF


def _normalize_module_paths(d: DiagnosticTree, field: str, mapping: Any) -> Any:
    if mapping is UNDEF:
        return UNDEF
    out: dict[str, Any] = {}
    if is_record(mapping):
        for name, path in mapping.items():
            if _is_string(d, f"{field}['{name}']", path, None, (field, name)):
                out[name] = path
    return out


def _binding_name_paths(field: str, value: Any, base: KeyPath) -> list[KeyPath]:
    """Key paths of the names ``binding_names`` returns (same order), for locating duplicates."""
    if field == "queues":
        base = base + ("producers",)
    if is_record(value) and isinstance(value.get("bindings"), list):
        return [base + (field, "bindings", i, "name") for i in range(len(value["bindings"]))]
    if isinstance(value, list):
        return [base + (field, i, "binding") for i in range(len(value))]
    if is_record(value):
        if get(value, "binding") is not UNDEF:
            return [base + (field, "binding")]
        return [base + (field, k) for k, v in value.items() if v is not UNDEF]
    return []


def validate_bindings_have_unique_names(d: DiagnosticTree, config: dict[str, Any], is_pages: bool,
                                        base: KeyPath = ()) -> bool:
    grouped_by_type: list[tuple[str, list[Any], list[KeyPath]]] = []
    for field, friendly in FRIENDLY_BINDING_NAMES:
        value = config.get(field, UNDEF)
        if field == "queues":
            value = get(value, "producers")
        names = binding_names(value)
        paths = _binding_name_paths(field, value, base if field not in TOP_LEVEL_TAIL else ())
        grouped_by_type.append((friendly, names, paths if len(paths) == len(names) else [()] * len(names)))
    secrets = config.get("secrets", UNDEF)
    required = get(secrets, "required")
    required = required if isinstance(required, list) else []
    grouped_by_type.append(("Secret", required,
                            [base + ("secrets", "required", i) for i in range(len(required))]))
    by_name: dict[Any, list[str]] = {}
    last_path: dict[Any, KeyPath] = {}
    for friendly, names, paths in grouped_by_type:
        for name, path in zip(names, paths, strict=True):
            key = _hashable(name)
            by_name.setdefault(key, [])
            if name == "ASSETS" and is_pages:
                d.error(f"The name 'ASSETS' is reserved in Pages projects. Please use a different name for your "
                        f"{friendly} binding.", path)
            by_name[key].append(friendly)
            last_path[key] = path
    has_duplicates = False
    for name, types in by_name.items():
        if len(types) < 2:
            continue
        has_duplicates = True
        different = list(dict.fromkeys(types))
        same = list(dict.fromkeys(t for i, t in enumerate(types) if types.index(t) != i))
        if len(different) > 1:
            d.error(f"{_js_str(name)} assigned to {english_list(different)} bindings.", last_path[name])
        for t in same:
            d.error(f"{_js_str(name)} assigned to multiple {t} bindings.", last_path[name])
    if has_duplicates:
        d.error("Bindings must have unique names, so that they can all be referenced in the worker.\n"
                "Please change your bindings to have unique names.", ())
    return not has_duplicates


# ---------------------------------------------------------------------------------------------
# binding validators


def _validate_consumer(d: DiagnosticTree, field: str, value: Any, path: KeyPath) -> bool:
    if not _is_object(value):
        d.error(f'"{field}" should be a objects, but got {stringify(value)}', path)
        return False
    ok = validate_additional_properties(d, field, keys(value), [
        "queue", "type", "max_batch_size", "max_batch_timeout", "max_retries", "dead_letter_queue",
        "max_concurrency", "visibility_timeout_ms", "retry_delay"], path)
    if not is_required_property(value, "queue", "string"):
        d.error(f'"{field}" should have a string "queue" field but got {stringify(value)}.', path + ("queue",))
    type_ = get(value, "type")
    if has(value, "type") and type_ is not UNDEF and type_ != "worker":
        d.error(f'"{field}.type" has an invalid value "{_js_str(type_)}". Only "worker" consumers can be '
                "configured in your Wrangler configuration.", path + ("type",))
        ok = False
    for key, t in (("type", "string"), ("max_batch_size", "number"), ("max_batch_timeout", "number"),
                   ("max_retries", "number"), ("dead_letter_queue", "string"), ("max_concurrency", "number"),
                   ("visibility_timeout_ms", "number"), ("retry_delay", "number")):
        if not is_optional_property(value, key, t):
            d.error(f'"{field}" should, optionally, have a {t} "{key}" field but got {stringify(value)}.',
                    path + (key,))
            ok = False
    return ok


def _validate_queue_binding(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    if not _is_object(value):
        d.error(f'"queue" bindings should be objects, but got {stringify(value)}', path)
        return False
    if not validate_additional_properties(d, field, keys(value), ["binding", "queue", "delivery_delay", "remote"],
                                          path):
        return False
    ok = True
    if not is_required_property(value, "binding", "string"):
        d.error(f'"{field}" bindings should have a string "binding" field but got {stringify(value)}.',
                path + ("binding",))
        ok = False
    if not is_required_property(value, "queue", "string") or len(value["queue"]) == 0:
        d.error(f'"{field}" bindings should have a string "queue" field but got {stringify(value)}.',
                path + ("queue",))
        ok = False
    if not is_optional_property(value, "delivery_delay", "number"):
        d.error(f'"{field}" should, optionally, have a number "delivery_delay" field but got {stringify(value)}.',
                path + ("delivery_delay",))
        ok = False
    if not is_remote_valid(value, field, d, path):
        ok = False
    return ok


def _validate_r2_binding(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    if not _is_object(value):
        d.error(f'"r2_buckets" bindings should be objects, but got {stringify(value)}', path)
        return False
    ok = True
    if not is_required_property(value, "binding", "string"):
        d.error(f'"{field}" bindings should have a string "binding" field but got {stringify(value)}.',
                path + ("binding",))
        ok = False
    bucket = get(value, "bucket_name")
    if not is_optional_property(value, "bucket_name", "string") or (bucket is not UNDEF and len(bucket) == 0):
        d.error(f'"{field}" bindings should have a string "bucket_name" field but got {stringify(value)}.',
                path + ("bucket_name",))
        ok = False
    if ok and has(value, "bucket_name") and not (typeof(bucket) == "string" and _BUCKET_RE.search(bucket)):
        d.error(f"{field}.bucket_name={stringify(bucket)} is invalid. {BUCKET_FORMAT}", path + ("bucket_name",))
        ok = False
    if not is_optional_property(value, "preview_bucket_name", "string"):
        d.error(f'"{field}" bindings should, optionally, have a string "preview_bucket_name" field but got '
                f"{stringify(value)}.", path + ("preview_bucket_name",))
        ok = False
    preview = get(value, "preview_bucket_name")
    if ok and has(value, "preview_bucket_name") and not (typeof(preview) == "string" and _BUCKET_RE.search(preview)):
        d.error(f"{field}.preview_bucket_name= {stringify(preview)} is invalid. {BUCKET_FORMAT}",
                path + ("preview_bucket_name",))
        ok = False
    if not is_optional_property(value, "jurisdiction", "string"):
        d.error(f'"{field}" bindings should, optionally, have a string "jurisdiction" field but got '
                f"{stringify(value)}.", path + ("jurisdiction",))
        ok = False
    if not is_remote_valid(value, field, d, path):
        ok = False
    validate_additional_properties(d, field, keys(value), ["binding", "bucket_name", "preview_bucket_name",
                                                           "jurisdiction", "remote"], path)
    return ok


def _validate_d1_binding(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    if not _is_object(value):
        d.error(f'"d1_databases" bindings should be objects, but got {stringify(value)}', path)
        return False
    ok = True
    if not is_required_property(value, "binding", "string"):
        d.error(f'"{field}" bindings should have a string "binding" field but got {stringify(value)}.',
                path + ("binding",))
        ok = False
    if not is_optional_property(value, "database_id", "string"):
        d.error(f'"{field}" bindings must have a "database_id" field but got {stringify(value)}.',
                path + ("database_id",))
        ok = False
    if not is_optional_property(value, "preview_database_id", "string"):
        d.error(f'"{field}" bindings should, optionally, have a string "preview_database_id" field but got '
                f"{stringify(value)}.", path + ("preview_database_id",))
        ok = False
    if not is_remote_valid(value, field, d, path):
        ok = False
    validate_additional_properties(d, field, keys(value), [
        "binding", "database_id", "database_internal_env", "database_name", "migrations_dir",
        "migrations_table", "preview_database_id", "remote"], path)
    return ok


def _validate_workflow_binding(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    if not _is_object(value):
        d.error(f'"workflows" bindings should be objects, but got {stringify(value)}', path)
        return False
    ok = True
    for key in ("binding", "name"):
        if not is_required_property(value, key, "string"):
            d.error(f'"{field}" bindings should have a string "{key}" field but got {stringify(value)}.',
                    path + (key,))
            ok = False
        elif key == "name" and not (len(value["name"]) <= 64 and _WORKFLOW_NAME_RE.search(value["name"])):
            d.error(f'"{field}" binding "name" field is invalid. {WORKFLOW_NAME_FORMAT}', path + ("name",))
            ok = False
    if not is_required_property(value, "class_name", "string"):
        d.error(f'"{field}" bindings should have a string "class_name" field but got {stringify(value)}.',
                path + ("class_name",))
        ok = False
    if not is_optional_property(value, "script_name", "string"):
        d.error(f'"{field}" bindings should, optionally, have a string "script_name" field but got '
                f"{stringify(value)}.", path + ("script_name",))
        ok = False
    if not is_optional_property(value, "remote", "boolean"):
        d.error(f'"{field}" bindings should, optionally, have a boolean "remote" field but got '
                f"{stringify(value)}.", path + ("remote",))
        ok = False
    limits = get(value, "limits")
    if has(value, "limits") and limits is not UNDEF:
        if not is_record(limits):
            d.error(f'"{field}" bindings should, optionally, have an object "limits" field but got '
                    f"{stringify(value)}.", path + ("limits",))
            ok = False
        else:
            steps = get(limits, "steps")
            if steps is not UNDEF:
                if typeof(steps) != "number" or not float(steps).is_integer() or steps < 1:
                    d.error(f'"{field}" bindings "limits.steps" field must be a positive integer but got '
                            f"{stringify(steps)}.", path + ("limits", "steps"))
                    ok = False
                elif steps > 25000:
                    d.warn(f'"{field}" has a step limit of {_js_str(steps)}, which exceeds the production maximum '
                           "of 25,000. This configuration may not work when deployed.", path + ("limits", "steps"))
            validate_additional_properties(d, f"{field}.limits", keys(limits), ["steps"], path + ("limits",))
    validate_additional_properties(d, field, keys(value), ["binding", "name", "class_name", "script_name",
                                                           "remote", "limits"], path)
    return ok


def _validate_unique_name(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    if isinstance(value, list):
        counts: dict[Any, int] = {}
        order: list[Any] = []
        for entry in value:
            name = _hashable(get(entry, "name"))
            if name not in counts:
                order.append(name)
            counts[name] = counts.get(name, 0) + 1
        dups = [_js_str(n) for n in order if counts[n] > 1]
        if dups:
            d.error(f'"{field}" bindings must have unique "name" values; duplicate(s) found: "'
                    + '", "'.join(dups) + '"', path)
            return False
    return True


def _validate_durable_object_binding(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    if not _is_object(value):
        d.error(f'Expected "{field}" to be an object but got {stringify(value)}', path)
        return False
    ok = True
    if not is_required_property(value, "name", "string"):
        d.error('binding should have a string "name" field.', path + ("name",))
        ok = False
    if not is_required_property(value, "class_name", "string"):
        d.error('binding should have a string "class_name" field.', path + ("class_name",))
        ok = False
    if not is_optional_property(value, "script_name", "string"):
        d.error('the field "script_name", when present, should be a string.', path + ("script_name",))
        ok = False
    if not is_optional_property(value, "environment", "string"):
        d.error('the field "environment", when present, should be a string.', path + ("environment",))
        ok = False
    if has(value, "environment") and not has(value, "script_name"):
        d.error('binding should have a "script_name" field if "environment" is present.', path + ("environment",))
        ok = False
    if not is_remote_valid(value, field, d, path):
        ok = False
    validate_additional_properties(d, field, keys(value), ["class_name", "environment", "name", "script_name"], path)
    return ok


def _validate_kv_binding(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    if not _is_object(value):
        d.error(f'"kv_namespaces" bindings should be objects, but got {stringify(value)}', path)
        return False
    ok = True
    if not is_required_property(value, "binding", "string"):
        d.error(f'"{field}" bindings should have a string "binding" field but got {stringify(value)}.',
                path + ("binding",))
        ok = False
    kv_id = get(value, "id")
    if not is_optional_property(value, "id", "string") or (kv_id is not UNDEF and len(kv_id) == 0):
        d.error(f'"{field}" bindings should have a string "id" field but got {stringify(value)}.', path + ("id",))
        ok = False
    if not is_optional_property(value, "preview_id", "string"):
        d.error(f'"{field}" bindings should, optionally, have a string "preview_id" field but got '
                f"{stringify(value)}.", path + ("preview_id",))
        ok = False
    if not is_remote_valid(value, field, d, path):
        ok = False
    validate_additional_properties(d, field, keys(value), ["binding", "id", "preview_id", "remote"], path)
    return ok


def _validate_send_email_binding(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    if not _is_object(value):
        d.error(f'"send_email" bindings should be objects, but got {stringify(value)}', path)
        return False
    ok = True
    if not is_required_property(value, "name", "string"):
        d.error(f'"{field}" bindings should have a string "name" field but got {stringify(value)}.', path + ("name",))
        ok = False
    if not is_optional_property(value, "destination_address", "string"):
        d.error(f'"{field}" bindings should, optionally, have a string "destination_address" field but got '
                f"{stringify(value)}.", path)
        ok = False
    for key in ("allowed_destination_addresses", "allowed_sender_addresses"):
        if not is_optional_property(value, key, "object"):
            d.error(f'"{field}" bindings should, optionally, have a []string "{key}" field but got '
                    f"{stringify(value)}.", path + (key,))
            ok = False
    if has(value, "destination_address") and has(value, "allowed_destination_addresses"):
        d.error(f'"{field}" bindings should have either a "destination_address" or "allowed_destination_addresses" '
                "field, but not both.", path)
        ok = False
    if not is_remote_valid(value, field, d, path):
        ok = False
    validate_additional_properties(d, field, keys(value), ["allowed_sender_addresses", "allowed_destination_addresses",
                                                           "destination_address", "name", "binding", "remote"], path)
    return ok


def _validate_vectorize_binding(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    if not _is_object(value):
        d.error(f'"vectorize" bindings should be objects, but got {stringify(value)}', path)
        return False
    ok = True
    if not is_required_property(value, "binding", "string"):
        d.error(f'"{field}" bindings should have a string "binding" field but got {stringify(value)}.',
                path + ("binding",))
        ok = False
    if not is_required_property(value, "index_name", "string"):
        d.error(f'"{field}" bindings must have an "index_name" field but got {stringify(value)}.',
                path + ("index_name",))
        ok = False
    if not is_remote_valid(value, field, d, path):
        ok = False
    validate_additional_properties(d, field, keys(value), ["binding", "index_name", "remote"], path)
    return ok


def _validate_service_binding(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    if not _is_object(value):
        d.error(f'"services" bindings should be objects, but got {stringify(value)}', path)
        return False
    ok = True
    for key, required in (("binding", True), ("service", True), ("environment", False), ("entrypoint", False)):
        good = (is_required_property(value, key, "string") if required
                else is_optional_property(value, key, "string"))
        if not good:
            d.error(f'"{field}" bindings should have a string "{key}" field but got {stringify(value)}.',
                    path + (key,))
            ok = False
    if not is_remote_valid(value, field, d, path):
        ok = False
    return ok


def _validate_analytics_engine_binding(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    if not _is_object(value):
        d.error(f'"analytics_engine" bindings should be objects, but got {stringify(value)}', path)
        return False
    ok = True
    if not is_required_property(value, "binding", "string"):
        d.error(f'"{field}" bindings should have a string "binding" field but got {stringify(value)}.',
                path + ("binding",))
        ok = False
    dataset = get(value, "dataset")
    if not is_optional_property(value, "dataset", "string") or (typeof(dataset) == "string" and len(dataset) == 0):
        d.error(f'"{field}" bindings should, optionally, have a string "dataset" field but got {stringify(value)}.',
                path + ("dataset",))
        ok = False
    validate_additional_properties(d, field, keys(value), ["binding", "dataset"], path)
    return ok


def _validate_unsafe_binding(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    if not _is_object(value):
        d.error(f"Expected {field} to be an object but got {stringify(value)}.", path)
        return False
    ok = True
    if not is_required_property(value, "name", "string"):
        d.error('binding should have a string "name" field.', path + ("name",))
        ok = False
    if is_required_property(value, "type", "string"):
        if value["type"] in _SAFE_UNSAFE_TYPES:
            t = value["type"]
            d.warn(f'The binding type "{t}" is directly supported by wrangler.\n'
                   f"Consider migrating this unsafe binding to a format for '{t}' bindings that is supported by "
                   "wrangler for optimal support.\n"
                   "For more details, see https://developers.cloudflare.com/workers/cli-wrangler/configuration",
                   path + ("type",))
        if value["type"] == "metadata" and is_required_property(value, "name", "string"):
            d.warn("The deployment object in the metadata binding is now deprecated. Please switch using the "
                   "version_metadata binding for access to version specific fields: "
                   "https://developers.cloudflare.com/workers/runtime-apis/bindings/version-metadata", path)
    else:
        d.error('binding should have a string "type" field.', path + ("type",))
        ok = False
    return ok


_SAFE_UNSAFE_TYPES = ("plain_text", "secret_text", "json", "wasm_module", "data_blob", "text_blob", "browser", "ai",
                      "ai_search_namespace", "ai_search", "kv_namespace", "durable_object_namespace", "d1_database",
                      "r2_bucket", "service", "logfwdr", "mtls_certificate", "pipeline", "worker_loader",
                      "vpc_service", "flagship", "vpc_network", "stream", "media", "artifacts")


def _validate_logfwdr_binding(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    if not _is_object(value):
        d.error(f'Expected "{field}" to be an object but got {stringify(value)}', path)
        return False
    ok = True
    if not is_required_property(value, "name", "string"):
        d.error('binding should have a string "name" field.', path + ("name",))
        ok = False
    if not is_required_property(value, "destination", "string"):
        d.error('binding should have a string "destination" field.', path + ("destination",))
        ok = False
    validate_additional_properties(d, field, keys(value), ["destination", "name"], path)
    return ok


def _validate_rule(d: DiagnosticTree, field: str, rule: Any, path: KeyPath) -> bool:
    if not isinstance(rule, (dict, list)):
        d.error(f'"{field}" should be an object but got {stringify(rule)}.', path)
        return False
    ok = True
    if not is_required_property(rule, "type", "string", ["ESModule", "CommonJS", "CompiledWasm", "Text", "Data"]):
        d.error('bindings should have a string "type" field, which contains one of "ESModule", "CommonJS", '
                '"CompiledWasm", "Text", or "Data".', path + ("type",))
        ok = False
    ok = validate_typed_array(d, f"{field}.globs", get(rule, "globs"), "string", path + ("globs",)) and ok
    if not is_optional_property(rule, "fallthrough", "boolean"):
        d.error('the field "fallthrough", when present, should be a boolean.', path + ("fallthrough",))
        ok = False
    return ok


def _validate_triggers(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    if nullish(value):
        return True
    if not isinstance(value, (dict, list)) or is_date(value):
        d.error(f'Expected "{field}" to be of type object but got {stringify(value)}.', path)
        return False
    ok = True
    if has(value, "crons") and not isinstance(get(value, "crons"), list):
        d.error(f'Expected "{field}.crons" to be of type array, but got {stringify(value)}.', path + ("crons",))
        ok = False
    return validate_additional_properties(d, field, keys(value), ["crons"], path) and ok


def _validate_assets(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    if value is UNDEF:
        return True
    if not _is_object(value):
        d.error(f'"{field}" should be an object, but got value {stringify(field)} of type {typeof(value)}', path)
        return False
    ok = validate_optional(d, field, "directory", get(value, "directory"), "string", path + ("directory",))
    ok = validate_optional(d, field, "binding", get(value, "binding"), "string", path + ("binding",)) and ok
    ok = validate_optional(d, field, "html_handling", get(value, "html_handling"), "string",
                           path + ("html_handling",),
                           ["auto-trailing-slash", "force-trailing-slash", "drop-trailing-slash", "none"]) and ok
    ok = validate_optional(d, field, "not_found_handling", get(value, "not_found_handling"), "string",
                           path + ("not_found_handling",), ["single-page-application", "404-page", "none"]) and ok
    rwf = get(value, "run_worker_first")
    if rwf is not UNDEF:
        if isinstance(rwf, bool):
            pass
        elif isinstance(rwf, list):
            ok = validate_typed_array(d, "assets.run_worker_first", rwf, "string", path + ("run_worker_first",)) and ok
        else:
            d.error(f'The field "{field}.run_worker_first" should be an array of strings or a boolean, but got '
                    f"{stringify(rwf)}.", path + ("run_worker_first",))
            ok = False
    return validate_additional_properties(d, field, keys(value), ["directory", "binding", "html_handling",
                                                                  "not_found_handling", "run_worker_first"],
                                          path) and ok


def _validate_migrations(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    migrations = coalesce(value, [])
    if not isinstance(migrations, list):
        d.error(f'The optional "{field}" field should be an array, but got {stringify(migrations)}', path)
        return False
    ok = True
    for i, m in enumerate(migrations):
        p = path + (i,)
        known = ("tag", "new_classes", "new_sqlite_classes", "renamed_classes", "deleted_classes",
                 "transferred_classes")
        ok = validate_additional_properties(d, "migrations", [k for k in keys(m) if k not in known], [], p) and ok
        ok = validate_required(d, f"migrations[{i}]", "tag", get(m, "tag"), "string", p + ("tag",)) and ok
        for key in ("new_classes", "new_sqlite_classes"):
            ok = validate_optional_typed_array(d, f"migrations[{i}].{key}", get(m, key), "string", p + (key,)) and ok
        renamed = get(m, "renamed_classes")
        if renamed is not UNDEF and (not isinstance(renamed, list) or any(
                not isinstance(c, (dict, list)) or not is_required_property(c, "from", "string")
                or not is_required_property(c, "to", "string") for c in renamed)):
            d.error(f'Expected "migrations[{i}].renamed_classes" to be an array of "{{from: string, to: string}}" '
                    f"objects but got {stringify(renamed)}.", p + ("renamed_classes",))
            ok = False
        transferred = get(m, "transferred_classes")
        if transferred is not UNDEF and (not isinstance(transferred, list) or any(
                not isinstance(c, (dict, list)) or not all(is_required_property(c, k, "string")
                                                           for k in ("from", "from_script", "to"))
                for c in transferred)):
            d.error(f'Expected "migrations[{i}].transferred_classes" to be an array of "{{from: string, from_script: '
                    f'string, to: string}}" objects but got {stringify(transferred)}.', p + ("transferred_classes",))
            ok = False
        ok = validate_optional_typed_array(d, f"migrations[{i}].deleted_classes", get(m, "deleted_classes"),
                                           "string", p + ("deleted_classes",)) and ok
    return ok


def _validate_observability(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    if value is UNDEF:
        return True
    if typeof(value) != "object":
        d.error(f'"{field}" should be an object but got {stringify(value)}.', path)
        return False
    ok = True
    props = [("enabled", get(value, "enabled"), "boolean"),
             ("logs.enabled", get(get(value, "logs"), "enabled"), "boolean"),
             ("traces.enabled", get(get(value, "traces"), "enabled"), "boolean")]
    if all(v is UNDEF for _, v, _t in props):
        d.error(" or ".join(f'"{field}.{k}"' for k, _, _t in props) + " is required.", path)
        ok = False
    elif not any(typeof(v) == t for _, v, t in props):
        for k, v, t in props:
            d.error(f'Expected "{field}.{k}" to be of type {t} but got {stringify(v)}.', path)
        ok = False
    ok = validate_optional(d, field, "head_sampling_rate", get(value, "head_sampling_rate"), "number",
                           path + ("head_sampling_rate",)) and ok
    ok = validate_optional(d, field, "logs", get(value, "logs"), "object", path + ("logs",)) and ok
    ok = validate_optional(d, field, "traces", get(value, "traces"), "object", path + ("traces",)) and ok
    ok = validate_additional_properties(d, field, keys(value), ["enabled", "head_sampling_rate", "logs", "traces"],
                                        path) and ok
    rate = get(value, "head_sampling_rate")
    if truthy(rate) and typeof(rate) == "number" and (rate < 0 or rate > 1):
        d.error(f'"{field}.head_sampling_rate" must be a value between 0 and 1.', path + ("head_sampling_rate",))
    return ok


def _validate_cache(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    if value is UNDEF:
        return True
    if not _is_object(value):
        d.error(f'"{field}" should be an object but got {stringify(value)}.', path)
        return False
    ok = validate_required(d, field, "enabled", get(value, "enabled"), "boolean", path + ("enabled",))
    return validate_additional_properties(d, field, keys(value), ["enabled"], path) and ok


def _validate_python_modules(d: DiagnosticTree, field: str, value: Any, top: Any, path: KeyPath) -> bool:
    if value is UNDEF:
        return True
    if not is_record(value):
        d.error(f'"{field}" should be an object but got {stringify(value)}.', path)
        return False
    if "exclude" not in value:
        return False
    return _is_string_array(d, f"{field}.exclude", value["exclude"], top, path + ("exclude",))


def _validate_previews(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    if value is UNDEF:
        return True
    if not is_record(value):
        d.error(f'The field "{field}" should be an object but got {stringify(value)}.', path)
        return False
    return True


def _validate_cloudchamber(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    if not is_record(value):
        d.error(f'"cloudchamber" should be an object, but got {stringify(value)}', path)
        return False
    ok = True
    for type_, names in (("string", ("memory", "image", "location")), ("boolean", ("ipv4",)),
                         ("number", ("vcpu",))):
        for key in names:
            if not is_optional_property(value, key, type_):
                d.error(f'"{field}" bindings should, optionally, have a {type_} "{key}" field but got '
                        f"{stringify(value)}.", path + (key,))
                ok = False
    return ok


def _validate_containers(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    if not truthy(value):
        return True
    if not isinstance(value, list):
        d.error(f'"containers" field should be an array, but got {stringify(value)}', path)
        return False
    return True


def _validate_tail_consumers(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    if not truthy(value):
        return True
    if not isinstance(value, list):
        d.error(f'Expected "{field}" to be an array but got {stringify(value)}.', path)
        return False
    ok = True
    for i, item in enumerate(value):
        f = f"{field}[{i}]"
        if not isinstance(item, (dict, list)):
            d.error(f'"{f}" should be an object but got {stringify(item)}.', path + (i,))
            ok = False
            continue
        good = validate_required(d, f, "service", get(item, "service"), "string", path + (i, "service"))
        good = good and validate_optional(d, f, "environment", get(item, "environment"), "string",
                                          path + (i, "environment"))
        ok = ok and good
    return ok


def _validate_streaming_tail_consumers(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    if not truthy(value):
        return True
    if not isinstance(value, list):
        d.error(f'Expected "{field}" to be an array but got {stringify(value)}.', path)
        return False
    ok = True
    for i, item in enumerate(value):
        f = f"{field}[{i}]"
        if not is_record(item):
            d.error(f'"{f}" should be an object but got {stringify(item)}.', path + (i,))
            ok = False
            continue
        ok = validate_required(d, f, "service", get(item, "service"), "string", path + (i, "service")) and ok
    return ok


# Table-driven ports of wrangler's validators for binding types the emulator does not run.
# Each check: (key, required?, type, message template); "{f}" = field path, "{j}" = the item's JSON.
_SIMPLE_BINDINGS: dict[str, dict[str, Any]] = {
    "ai_search_namespaces": {"label": "ai_search_namespaces", "checks": [
        ("binding", True, "string", '"{f}" bindings should have a string "binding" field but got {j}.'),
        ("namespace", True, "string", '"{f}" bindings must have a "namespace" field but got {j}.')],
        "remote": "before", "known": ["binding", "namespace", "remote"]},
    "ai_search": {"label": "ai_search", "checks": [
        ("binding", True, "string", '"{f}" bindings should have a string "binding" field but got {j}.'),
        ("instance_name", True, "string", '"{f}" bindings must have an "instance_name" field but got {j}.')],
        "remote": "before", "known": ["binding", "instance_name", "remote"]},
    "hyperdrive": {"label": "hyperdrive", "checks": [
        ("binding", True, "string", '"{f}" bindings should have a string "binding" field but got {j}.'),
        ("id", True, "string", '"{f}" bindings must have a "id" field but got {j}.')],
        "remote": None, "known": ["binding", "id", "localConnectionString"]},
    "vpc_services": {"label": "vpc_services", "checks": [
        ("binding", True, "string", '"{f}" bindings should have a string "binding" field but got {j}.'),
        ("service_id", True, "string", '"{f}" bindings must have a "service_id" field but got {j}.')],
        "remote": None, "known": ["binding", "service_id", "remote"]},
    "mtls_certificates": {"label": "mtls_certificates", "checks": [
        ("binding", True, "string", '"{f}" bindings should have a string "binding" field but got {j}.'),
        ("certificate_id", "nonempty", "string",
         '"{f}" bindings should have a string "certificate_id" field but got {j}.')],
        "remote": "after", "known": ["binding", "certificate_id", "remote"]},
    "pipelines": {"label": "pipeline", "checks": [
        ("binding", True, "string", '"{f}" bindings must have a string "binding" field but got {j}.'),
        ("pipeline", True, "string", '"{f}" bindings must have a string "pipeline" field but got {j}.')],
        "remote": "before", "known": ["binding", "pipeline", "remote"]},
    "secrets_store_secrets": {"label": "secrets_store_secrets", "checks": [
        ("binding", True, "string", '"{f}" bindings must have a string "binding" field but got {j}.'),
        ("store_id", True, "string", '"{f}" bindings must have a string "store_id" field but got {j}.'),
        ("secret_name", True, "string", '"{f}" bindings must have a string "secret_name" field but got {j}.')],
        "remote": None, "known": ["binding", "store_id", "secret_name"]},
    "artifacts": {"label": "artifacts", "checks": [
        ("binding", True, "string", '"{f}" bindings must have a string "binding" field but got {j}.'),
        ("namespace", True, "string", '"{f}" bindings must have a string "namespace" field but got {j}.')],
        "remote": "after", "known": ["binding", "namespace", "remote"]},
    "unsafe_hello_world": {"label": "unsafe_hello_world", "checks": [
        ("binding", True, "string", '"{f}" bindings must have a string "binding" field but got {j}.'),
        ("enable_timer", False, "boolean", '"{f}" bindings must have a boolean "enable_timer" field but got {j}.')],
        "remote": None, "known": ["binding", "enable_timer"]},
    "flagship": {"label": "flagship", "checks": [
        ("binding", True, "string", '"{f}" bindings must have a string "binding" field but got {j}.'),
        ("app_id", True, "string", '"{f}" bindings must have a string "app_id" field but got {j}.')],
        "remote": "after", "known": ["binding", "app_id", "remote"]},
    "worker_loaders": {"label": "worker_loader", "checks": [
        ("binding", True, "string", '"{f}" bindings must have a string "binding" field but got {j}.')],
        "remote": None, "known": ["binding"]},
}


def _simple_binding(kind: str) -> Validator:
    spec = _SIMPLE_BINDINGS[kind]

    def check(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
        if not _is_object(value):
            d.error(f'"{spec["label"]}" bindings should be objects, but got {stringify(value)}', path)
            return False
        ok = True
        for key, required, type_, template in spec["checks"]:
            if required == "nonempty":
                good = is_required_property(value, key, type_) and len(value[key]) > 0
            elif required:
                good = is_required_property(value, key, type_)
            else:
                good = is_optional_property(value, key, type_)
            if not good:
                d.error(template.format(f=field, j=stringify(value)), path + (key,))
                ok = False
        if spec["remote"] == "before" and not is_remote_valid(value, field, d, path):
            ok = False
        validate_additional_properties(d, field, keys(value), spec["known"], path)
        if spec["remote"] == "after" and not is_remote_valid(value, field, d, path):
            ok = False
        return ok
    return check


def _validate_dispatch_namespace(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    if not _is_object(value):
        d.error(f'"{field}" binding should be objects, but got {stringify(value)}', path)
        return False
    ok = True
    for key in ("binding", "namespace"):
        if not is_required_property(value, key, "string"):
            d.error(f'"{field}" should have a string "{key}" field but got {stringify(value)}.', path + (key,))
            ok = False
    if not is_remote_valid(value, field, d, path):
        ok = False
    return ok


def _validate_vpc_network(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    if not _is_object(value):
        d.error(f'"vpc_networks" bindings should be objects, but got {stringify(value)}', path)
        return False
    ok = True
    if not is_required_property(value, "binding", "string"):
        d.error(f'"{field}" bindings should have a string "binding" field but got {stringify(value)}.',
                path + ("binding",))
        ok = False
    tunnel, network = has(value, "tunnel_id"), has(value, "network_id")
    if tunnel and network:
        d.error(f'"{field}" bindings must have either a "tunnel_id" or "network_id", but not both.', path)
        ok = False
    elif not tunnel and not network:
        d.error(f'"{field}" bindings must have either a "tunnel_id" or "network_id" field but got '
                f"{stringify(value)}.", path)
        ok = False
    elif tunnel and typeof(value["tunnel_id"]) != "string":
        d.error(f'"{field}" bindings must have a string "tunnel_id" field but got {stringify(value)}.',
                path + ("tunnel_id",))
        ok = False
    elif network and typeof(value["network_id"]) != "string":
        d.error(f'"{field}" bindings must have a string "network_id" field but got {stringify(value)}.',
                path + ("network_id",))
        ok = False
    validate_additional_properties(d, field, keys(value), ["binding", "tunnel_id", "network_id", "remote"], path)
    return ok


def _validate_ratelimit(d: DiagnosticTree, field: str, value: Any, _top: Any, path: KeyPath) -> bool:
    if not _is_object(value):
        d.error(f'"ratelimits" bindings should be objects, but got {stringify(value)}', path)
        return False
    ok = True
    for key in ("name", "namespace_id"):
        if not is_required_property(value, key, "string"):
            d.error(f'"{field}" bindings must have a string "{key}" field but got {stringify(value)}.', path + (key,))
            ok = False
    simple = get(value, "simple")
    if not isinstance(simple, (dict, list)):
        d.error(f'"{field}" bindings must have a "simple" configuration object but got {stringify(value)}.',
                path + ("simple",))
        ok = False
    else:
        if not is_required_property(simple, "limit", "number"):
            d.error(f'"{field}" bindings "simple.limit" must be a number but got {stringify(simple)}.',
                    path + ("simple", "limit"))
            ok = False
        if not is_required_property(simple, "period", "number"):
            d.error(f'"{field}" bindings "simple.period" is required and must be a number but got '
                    f"{stringify(simple)}.", path + ("simple", "period"))
            ok = False
        elif get(simple, "period") not in (10, 60):
            d.error(f'"{field}" bindings "simple.period" must be either 10 or 60 but got '
                    f'{stringify(get(simple, "period"))}.', path + ("simple", "period"))
            ok = False
        validate_additional_properties(d, f"{field}.simple", keys(simple), ["limit", "period"], path + ("simple",))
    validate_additional_properties(d, field, keys(value), ["name", "namespace_id", "simple"], path)
    return ok
