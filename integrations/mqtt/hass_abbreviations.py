"""Home Assistant's short discovery keys (``stat_t`` for ``state_topic``) and base topic (``~``).

Discovery payloads may abbreviate keys to save bytes (ESPHome and Tasmota do). ``expand``
turns a payload into one with full keys and ``~`` replaced, the way Home Assistant reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .entity import PayloadError

__all__ = ["ABBREVIATIONS", "DEVICE_ABBREVIATIONS", "expand"]

ABBREVIATIONS: Mapping[str, str] = {
    # every component
    "avty": "availability",
    "avty_mode": "availability_mode",
    "avty_t": "availability_topic",
    "avty_tpl": "availability_template",
    "cmd_t": "command_topic",
    "cmd_tpl": "command_template",
    "cmps": "components",
    "def_ent_id": "default_entity_id",
    "dev": "device",
    "dev_cla": "device_class",
    "e": "encoding",
    "en": "enabled_by_default",
    "ent_cat": "entity_category",
    "ic": "icon",
    "json_attr_t": "json_attributes_topic",
    "json_attr_tpl": "json_attributes_template",
    "o": "origin",
    "obj_id": "object_id",
    "opt": "optimistic",
    "p": "platform",
    "pl_avail": "payload_available",
    "pl_not_avail": "payload_not_available",
    "pl_off": "payload_off",
    "pl_on": "payload_on",
    "ret": "retain",
    "stat_off": "state_off",
    "stat_on": "state_on",
    "stat_t": "state_topic",
    "stat_tpl": "state_template",
    "stat_val_tpl": "state_value_template",
    "uniq_id": "unique_id",
    "val_tpl": "value_template",
    # sensor, binary sensor
    "exp_aft": "expire_after",
    "frc_upd": "force_update",
    "off_dly": "off_delay",
    "stat_cla": "state_class",
    "unit_of_meas": "unit_of_measurement",
    # light
    "bri_cmd_t": "brightness_command_topic",
    "bri_cmd_tpl": "brightness_command_template",
    "bri_scl": "brightness_scale",
    "bri_stat_t": "brightness_state_topic",
    "bri_val_tpl": "brightness_value_template",
    "clr_temp_cmd_t": "color_temp_command_topic",
    "clr_temp_cmd_tpl": "color_temp_command_template",
    "clr_temp_k": "color_temp_kelvin",
    "clr_temp_stat_t": "color_temp_state_topic",
    "clr_temp_val_tpl": "color_temp_value_template",
    "clrm": "color_mode",
    "clrm_stat_t": "color_mode_state_topic",
    "clrm_val_tpl": "color_mode_value_template",
    "fx_cmd_t": "effect_command_topic",
    "fx_list": "effect_list",
    "fx_stat_t": "effect_state_topic",
    "max_k": "max_kelvin",
    "max_mirs": "max_mireds",
    "min_k": "min_kelvin",
    "min_mirs": "min_mireds",
    "on_cmd_type": "on_command_type",
    "rgb_cmd_t": "rgb_command_topic",
    "rgb_cmd_tpl": "rgb_command_template",
    "rgb_stat_t": "rgb_state_topic",
    "rgb_val_tpl": "rgb_value_template",
    "sup_clrm": "supported_color_modes",
    "whit_scl": "white_scale",
    # fan
    "pct_cmd_t": "percentage_command_topic",
    "pct_cmd_tpl": "percentage_command_template",
    "pct_stat_t": "percentage_state_topic",
    "pct_val_tpl": "percentage_value_template",
    "pl_rst_pct": "payload_reset_percentage",
    "pl_rst_pr_mode": "payload_reset_preset_mode",
    "pr_mode_cmd_t": "preset_mode_command_topic",
    "pr_mode_cmd_tpl": "preset_mode_command_template",
    "pr_mode_stat_t": "preset_mode_state_topic",
    "pr_mode_val_tpl": "preset_mode_value_template",
    "pr_modes": "preset_modes",
    "spd_rng_max": "speed_range_max",
    "spd_rng_min": "speed_range_min",
    # cover
    "pl_cls": "payload_close",
    "pl_open": "payload_open",
    "pl_stop": "payload_stop",
    "pos_clsd": "position_closed",
    "pos_open": "position_open",
    "pos_t": "position_topic",
    "pos_tpl": "position_template",
    "set_pos_t": "set_position_topic",
    "set_pos_tpl": "set_position_template",
    "stat_closing": "state_closing",
    "stat_clsd": "state_closed",
    "stat_open": "state_open",
    "stat_opening": "state_opening",
    "stat_stopped": "state_stopped",
    # climate
    "curr_hum_t": "current_humidity_topic",
    "curr_hum_tpl": "current_humidity_template",
    "curr_temp_t": "current_temperature_topic",
    "curr_temp_tpl": "current_temperature_template",
    "max_temp": "max_temp",
    "min_temp": "min_temp",
    "mode_cmd_t": "mode_command_topic",
    "mode_cmd_tpl": "mode_command_template",
    "mode_stat_t": "mode_state_topic",
    "mode_stat_tpl": "mode_state_template",
    "pow_cmd_t": "power_command_topic",
    "pow_cmd_tpl": "power_command_template",
    "temp_cmd_t": "temperature_command_topic",
    "temp_cmd_tpl": "temperature_command_template",
    "temp_stat_t": "temperature_state_topic",
    "temp_stat_tpl": "temperature_state_template",
    "temp_unit": "temperature_unit",
    # lock
    "pl_lock": "payload_lock",
    "pl_unlk": "payload_unlock",
    "stat_jam": "state_jammed",
    "stat_locked": "state_locked",
    "stat_locking": "state_locking",
    "stat_unlocked": "state_unlocked",
    "stat_unlocking": "state_unlocking",
}
"""Short discovery keys -> full keys (a subset of Home Assistant's table: the keys the
supported components read, and the shared ones)."""

DEVICE_ABBREVIATIONS: Mapping[str, str] = {
    "cns": "connections",
    "cu": "configuration_url",
    "hw": "hw_version",
    "ids": "identifiers",
    "mdl": "model",
    "mdl_id": "model_id",
    "mf": "manufacturer",
    "sa": "suggested_area",
    "sn": "serial_number",
    "sw": "sw_version",
}
"""Short keys inside ``device``."""

_AVAILABILITY_ABBREVIATIONS: Mapping[str, str] = {
    "t": "topic",
    "pl_avail": "payload_available",
    "pl_not_avail": "payload_not_available",
    "val_tpl": "value_template",
}


def _unabbreviate(data: Mapping[str, Any], table: Mapping[str, str]) -> dict[str, Any]:
    """Full keys for short ones; where a config has both, the full key wins."""
    result: dict[str, Any] = {}
    for key, value in data.items():
        full = table.get(key, key)
        if full != key and full in data:
            continue
        result[full] = value
    return result


def expand(config: Mapping[str, Any]) -> dict[str, Any]:
    """A config with full keys and ``~`` replaced in every ``*_topic`` (and availability's
    ``topic``), the way Home Assistant reads discovery payloads."""
    data = _unabbreviate(config, ABBREVIATIONS)
    if isinstance(data.get("device"), Mapping):
        data["device"] = _unabbreviate(data["device"], DEVICE_ABBREVIATIONS)
    availability = data.get("availability")
    if isinstance(availability, list):
        data["availability"] = [
            _unabbreviate(entry, _AVAILABILITY_ABBREVIATIONS)
            if isinstance(entry, Mapping)
            else entry
            for entry in availability
        ]
    base = data.pop("~", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise PayloadError("~ (the base topic) must be a string")
    for key, value in data.items():
        if key.endswith("topic"):
            data[key] = _with_base(value, base)
    for entry in data.get("availability") or ():
        if isinstance(entry, dict) and "topic" in entry:
            entry["topic"] = _with_base(entry["topic"], base)
    return data


def _with_base(value: Any, base: str) -> Any:
    if not isinstance(value, str) or not value:
        return value
    if value.startswith("~"):
        return base + value[1:]
    if value.endswith("~"):
        return value[:-1] + base
    return value
