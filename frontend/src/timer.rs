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
