"""The risk rules file: load, validate with clear errors, and write it to meta.rules / meta.signal_catalog.

The fixed tables ([model], [risk], [inputs]) are pydantic models with `extra="forbid"`: a misspelt key is refused,
named with its table and the file. A signal's table holds its own thresholds, so its keys are checked against the
SQL instead (`transforms.runner.check_rule_references`: a threshold no SQL file reads is refused as a typo).
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import duckdb
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crm_risk.errors import ConfigError

__all__ = ["DEFAULT_RULES", "PROFILES", "SEVERITIES", "Rules", "SignalRule", "load_rules", "write_rules"]

DEFAULT_RULES = Path(__file__).with_name("rules.toml")
SEVERITIES = ("high", "medium", "low", "positive")
# lifecycle profiles: a signal may override its thresholds for accounts in that stage ([signals.X.onboarding])
PROFILES = ("onboarding",)
# parameter names that are thresholds or windows: these must be numbers, never strings
_NUMERIC = re.compile(r"(^(min|max)_|_(days|count|cases|share|factor|contacts|touches|drop|csat)$|^factor$)")


@dataclass(frozen=True)
class SignalRule:
    """One signal's severity, points, suggested action and numeric/text parameters."""

    signal_id: str
    severity: str
    points: float
    action: str
    enabled: bool = True
    params: dict[str, Any] = field(default_factory=dict)
    # the severity of a firing that the signal's SQL marks as mitigated (column `mitigated`); None: unchanged
    mitigated_severity: str | None = None


@dataclass(frozen=True)
class Rules:
    """The whole rules file, validated."""

    model_version: str
    risk: dict[str, Any]
    inputs: dict[str, str]
    signals: dict[str, SignalRule]
    path: Path | None = None


def _fail(path: Path | None, where: str, problem: str) -> ConfigError:
    return ConfigError(f"rules file {path or '<dict>'}: [{where}] {problem}")


def _number(path: Path | None, where: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(path, where, f"{key} must be a number, got {value!r}")
    if value < 0:
        raise _fail(path, where, f"{key} must not be negative, got {value!r}")
    return float(value)


def _signal(path: Path | None, sid: str, raw: Any) -> SignalRule:
    where = f"signals.{sid}"
    if not isinstance(raw, dict):
        raise _fail(path, where, "must be a table")
    severity = raw.get("severity")
    if severity not in SEVERITIES:
        raise _fail(path, where, f"severity must be one of {', '.join(SEVERITIES)}, got {severity!r}")
    points = _number(path, where, "points", raw.get("points"))
    if points > 100:
        raise _fail(path, where, f"points must be between 0 and 100, got {points}")
    action = raw.get("action")
    if not isinstance(action, str) or not action.strip():
        raise _fail(path, where, "action (the sentence telling the rep what to do) is missing")
    mitigated = raw.get("mitigated_severity")
    if mitigated is not None and (
        mitigated not in SEVERITIES[:-1] or SEVERITIES.index(mitigated) <= SEVERITIES.index(severity)
    ):
        raise _fail(
            path, where, f"mitigated_severity must be a risk severity below {severity!r}, got {mitigated!r}"
        )
    params: dict[str, Any] = {}
    for key, value in raw.items():
        if key in ("severity", "points", "action", "enabled", "mitigated_severity"):
            continue
        if key in PROFILES:
            if not isinstance(value, dict):
                raise _fail(path, where, f"{key} must be a table of threshold overrides")
            for sub, v in value.items():
                if sub not in raw:
                    raise _fail(path, f"{where}.{key}", f"{sub} overrides nothing: the signal has no {sub}")
                params[f"{key}.{sub}"] = _number(path, f"{where}.{key}", sub, v)
            continue
        if isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                raise _fail(path, where, f"{key} must be a list of strings")
            params[key] = value
        elif isinstance(value, str) and not _NUMERIC.search(key):
            params[key] = value
        else:
            params[key] = _number(path, where, key, value)
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise _fail(path, where, f"enabled must be true or false, got {enabled!r}")
    return SignalRule(sid, severity, points, action.strip(), enabled, params, mitigated)


class _Section(BaseModel):
    """A table of the rules file with a fixed set of keys: an unknown key (a typo) is refused, naming it."""

    model_config = ConfigDict(extra="forbid", strict=True)


_Amount = Annotated[float, Field(ge=0)]


class _ModelSection(_Section):
    version: str = Field(min_length=1, max_length=40)


class _RiskSection(_Section):
    amber_min_score: _Amount
    red_min_score: _Amount
    renewal_window_days: _Amount
    renewal_weight: _Amount
    trend_min_delta: _Amount
    trend_reference_days: _Amount
    onboarding_days: _Amount
    contract_days: _Amount
    reasons_count: _Amount
    reasons_max_chars: Annotated[float, Field(ge=0, le=1000)]
    clear_reason: str


class _RulesFile(_Section):
    model: _ModelSection
    risk: _RiskSection
    inputs: dict[str, str] = Field(default_factory=dict)
    signals: dict[str, dict[str, Any]] = Field(min_length=1)


_HINTS = {
    "missing": "is missing",
    "extra_forbidden": "is not a known key (a typo?)",
    "float_type": "must be a number",
    "string_type": "must be a string",
    "dict_type": "must be a table",
    "greater_than_equal": "must not be negative",
    "too_short": "must not be empty",
}


def _explain(path: Path | None, exc: ValidationError) -> ConfigError:
    """The first problem of a pydantic ValidationError as one line naming the table, the key and the fix."""
    problems = []
    for err in exc.errors():
        loc = [str(part) for part in err["loc"]]
        where = ".".join(loc[:-1]) or loc[0]
        key = loc[-1] if len(loc) > 1 else ""
        if err["type"] == "less_than_equal" and loc[-1] == "reasons_max_chars":
            hint = "must not exceed 1000 (the Risk_Reasons__c length)"
        elif loc == ["model", "version"]:
            hint = "must be a string of 1-40 characters (Risk_Model_Version__c)"
        elif loc == ["signals"]:
            hint, key = "no signal defined", ""
        else:
            hint = _HINTS.get(err["type"], err["msg"])
        got = "" if err["type"] in ("missing", "extra_forbidden") else f", got {err.get('input')!r}"
        problems.append(f"[{where}] {key + ' ' if key else ''}{hint}{got}")
    return ConfigError(f"rules file {path or '<dict>'}: " + "; ".join(problems[:3]))


def load_rules(path: str | Path | None = None, data: dict[str, Any] | None = None) -> Rules:
    """Read and validate the rules (the default file, another path, or an already parsed dict for tests)."""
    file = Path(path) if path else (None if data is not None else DEFAULT_RULES)
    if data is None:
        assert file is not None
        try:
            data = tomllib.loads(file.read_text())
        except FileNotFoundError as exc:
            raise ConfigError(f"rules file {file} not found") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"rules file {file} is not valid TOML: {exc}") from exc
    try:
        parsed = _RulesFile.model_validate(data)
    except ValidationError as exc:
        raise _explain(file, exc) from None
    risk: dict[str, Any] = parsed.risk.model_dump()
    signals = {sid: _signal(file, sid, raw) for sid, raw in parsed.signals.items()}
    return Rules(parsed.model.version, risk, dict(parsed.inputs), signals, file)


def write_rules(con: duckdb.DuckDBPyConnection, rules: Rules) -> None:
    """Replace meta.rules (signal_id, param, num_value, text_value) and meta.signal_catalog from `rules`."""
    rows: list[dict[str, Any]] = [
        {"signal_id": "model", "param": "version", "num_value": None, "text_value": rules.model_version}
    ]
    for key, value in rules.risk.items():
        rows.append(_param_row("risk", key, value))
    for key, value in rules.inputs.items():
        rows.append(_param_row("inputs", key, value))
    catalog = []
    for sid, sig in rules.signals.items():
        rows.extend(_param_row(sid, k, v) for k, v in sig.params.items())
        catalog.append(
            {
                "signal_id": sid,
                "severity": sig.severity,
                "points": sig.points,
                "action": sig.action,
                "enabled": sig.enabled,
                "mitigated_severity": sig.mitigated_severity,
            }
        )
    # ~100 small rows: one multi-row VALUES statement with bound parameters (no Arrow round trip needed)
    con.execute(
        "create or replace table meta.rules (signal_id varchar, param varchar, num_value double, "
        "text_value varchar)"
    )
    con.execute(
        "insert into meta.rules values " + ", ".join(["(?, ?, ?, ?)"] * len(rows)),
        [v for r in rows for v in (r["signal_id"], r["param"], r["num_value"], r["text_value"])],
    )
    con.execute(
        "create or replace table meta.signal_catalog (signal_id varchar, severity varchar, points double, "
        "action varchar, enabled boolean, mitigated_severity varchar)"
    )
    columns = ("signal_id", "severity", "points", "action", "enabled", "mitigated_severity")
    con.execute(
        "insert into meta.signal_catalog values " + ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(catalog)),
        [c[k] for c in catalog for k in columns],
    )


def _param_row(signal_id: str, key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        return {"signal_id": signal_id, "param": key, "num_value": None, "text_value": json.dumps(value)}
    if isinstance(value, str):
        return {"signal_id": signal_id, "param": key, "num_value": None, "text_value": value}
    return {"signal_id": signal_id, "param": key, "num_value": float(value), "text_value": None}
