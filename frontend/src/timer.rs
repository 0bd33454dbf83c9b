//! A repeating timer that belongs to the component that starts it: stopped when the component goes.

use sycamore::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

/// Calls `tick` every `milliseconds` inside the calling component's reactive scope, so that it may
/// start requests and set signals as the component's own code does.
pub fn every(milliseconds: i32, mut tick: impl FnMut() + 'static) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let scope = use_current_scope();
    let callback = Closure::<dyn FnMut()>::new(move || scope.run_in(&mut tick));
    let Ok(handle) = window.set_interval_with_callback_and_timeout_and_arguments_0(
        callback.as_ref().unchecked_ref(),
        milliseconds,
    ) else {
        return;
    };
    on_cleanup(move || {
        window.clear_interval_with_handle(handle);
        drop(callback);
    });
}

/// Calls `refresh` every `milliseconds` while `pending` says so, at most `times` times in all.
pub fn refresh_while(
    milliseconds: i32,
    times: u32,
    pending: impl Fn() -> bool + 'static,
    refresh: impl Fn() + 'static,
) {
    let mut done = 0;
    every(milliseconds, move || {
        if done < times && pending() {
            done += 1;
            refresh();
        }
    });
}

/// Milliseconds since the epoch, by the browser's clock.
pub fn now_millis() -> f64 {
    js_sys::Date::now()
}

/// An RFC 3339 time as milliseconds since the epoch, if the browser can read it.
pub fn parse_millis(rfc3339: &str) -> Option<f64> {
    let millis = js_sys::Date::parse(rfc3339);
    (!millis.is_nan()).then_some(millis)
}

/// Whole seconds from `now` (milliseconds since the epoch) until an RFC 3339 time, never below 0;
/// `None` when the browser cannot read the time.
pub fn seconds_until(rfc3339: &str, now: f64) -> Option<i64> {
    parse_millis(rfc3339).map(|at| ((at - now) / 1000.0).ceil().max(0.0) as i64)
}

/// A remaining time as people read a countdown: `04:07` under an hour, `02:14:09` under a day,
/// `3 days 02:14:09` beyond.
pub fn remaining(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (hours, minutes, secs) = (rest / 3_600, rest % 3_600 / 60, rest % 60);
    match (days, hours) {
        (0, 0) => format!("{minutes:02}:{secs:02}"),
        (0, _) => format!("{hours:02}:{minutes:02}:{secs:02}"),
        (1, _) => format!("1 day {hours:02}:{minutes:02}:{secs:02}"),
        _ => format!("{days} days {hours:02}:{minutes:02}:{secs:02}"),
    }
}

#[cfg(test)]
mod tests {
    use super::remaining;

    #[test]
    fn remaining_times_read_as_minutes_then_hours_then_days() {
        assert_eq!(remaining(0), "00:00");
        assert_eq!(remaining(-5), "00:00");
        assert_eq!(remaining(247), "04:07");
        assert_eq!(remaining(3_599), "59:59");
        assert_eq!(remaining(3_600), "01:00:00");
        assert_eq!(remaining(8_049), "02:14:09");
        assert_eq!(remaining(86_400 + 61), "1 day 00:01:01");
        assert_eq!(remaining(3 * 86_400 + 8_049), "3 days 02:14:09");
    }
}
