//! Times as people read and type them: the browser's own time zone, shown as `2026-11-24 19:42`,
//! and a `datetime-local` field's wall-clock value turned into the RFC 3339 UTC the API takes.

use wasm_bindgen::JsValue;

/// The browser's time zone by name (e.g. `Europe/Berlin`), for labels that say which clock a
/// time is on; `None` when the browser does not say.
pub fn zone_name() -> Option<String> {
    let format = js_sys::Intl::DateTimeFormat::new(&js_sys::Array::new(), &js_sys::Object::new());
    js_sys::Reflect::get(&format.resolved_options(), &JsValue::from_str("timeZone"))
        .ok()
        .and_then(|zone| zone.as_string())
}

fn local(rfc3339: &str) -> Option<js_sys::Date> {
    let date = js_sys::Date::new(&JsValue::from_str(rfc3339));
    (!date.get_time().is_nan()).then_some(date)
}

/// `19:42`, on the browser's clock; the text as it came when the browser cannot read it.
pub fn clock(rfc3339: &str) -> String {
    match local(rfc3339) {
        Some(date) => format!("{:02}:{:02}", date.get_hours(), date.get_minutes()),
        None => rfc3339.to_owned(),
    }
}

/// `2026-11-24 19:42`, on the browser's clock; the text as it came when the browser cannot read it.
pub fn date_and_clock(rfc3339: &str) -> String {
    match local(rfc3339) {
        Some(date) => format!(
            "{}-{:02}-{:02} {}",
            date.get_full_year(),
            date.get_month() + 1,
            date.get_date(),
            clock(rfc3339)
        ),
        None => rfc3339.to_owned(),
    }
}

/// A `datetime-local` value (`2026-11-24T19:42`, the browser's wall clock) as RFC 3339 UTC
/// (`2026-11-24T18:42:00Z`); `None` for an empty field, the text as typed when it is no time at
/// all (a browser without the picker shows a plain text box), so the server names the rule.
pub fn local_input_to_utc(value: &str) -> Option<String> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    // ECMAScript reads a date-time without an offset as local time, which is what the field holds.
    match local(value) {
        Some(date) => {
            let iso = String::from(date.to_iso_string());
            // `…T18:42:00.000Z`: whole minutes from the picker, so the milliseconds say nothing.
            Some(iso.replace(".000Z", "Z"))
        }
        None => Some(value.to_owned()),
    }
}
