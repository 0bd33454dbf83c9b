//! `/checkin`: the organiser at the door. A code typed, pasted or read by the camera is checked in
//! with `POST /api/checkins`, and the answer shown in type large enough to read at arm's length.

use contract::passes::{AlreadyCheckedInBody, CheckedInBody, CheckinRequest};
use sycamore::futures::spawn_local_scoped;
use sycamore::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::api::{Call, Failure, Problem, problems_from};
use crate::config::Config;
use crate::forms::Alert;
use crate::pages::tickets::new_key;
use crate::session::require_user;
use crate::{timer, when};

/// What the door is told about the last scan.
#[derive(Clone, Debug, PartialEq)]
enum Verdict {
    Checking,
    Welcome { who: String },
    Already { at: String, who: String },
    Invalid,
    Revoked,
    NotYours,
}

impl Verdict {
    fn headline(&self) -> String {
        match self {
            Self::Checking => "Checking…".to_owned(),
            Self::Welcome { .. } => "Welcome".to_owned(),
            Self::Already { at, .. } => format!("Already checked in at {at}"),
            Self::Invalid => "Invalid code".to_owned(),
            Self::Revoked => "Pass revoked".to_owned(),
            Self::NotYours => "Not your event".to_owned(),
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::Welcome { who } | Self::Already { who, .. } => who.clone(),
            _ => String::new(),
        }
    }

    /// The colour class: go, look again, or stop.
    fn class(&self) -> &'static str {
        match self {
            Self::Checking => "verdict",
            Self::Welcome { .. } => "verdict go",
            Self::Already { .. } => "verdict warn",
            Self::Invalid | Self::Revoked | Self::NotYours => "verdict stop",
        }
    }
}

fn who(pass: &crate::models::Pass) -> String {
    format!("{} · seat {} of {}", pass.title, pass.seat, pass.of)
}

/// The answer to one scan, or messages for the alert box when it is none of the contract's.
fn verdict_of(status: u16, body: &str) -> Result<Verdict, Vec<Problem>> {
    match status {
        200 => serde_json::from_str::<CheckedInBody>(body)
            .map(|answer| Verdict::Welcome {
                who: who(&answer.pass),
            })
            .map_err(|_| problems_from(status, "")),
        409 => Ok(match serde_json::from_str::<AlreadyCheckedInBody>(body) {
            Ok(answer) => Verdict::Already {
                at: when::clock(&answer.checked_in_at),
                who: who(&answer.pass),
            },
            Err(_) => Verdict::Already {
                at: "an earlier scan".to_owned(),
                who: String::new(),
            },
        }),
        400 => Ok(Verdict::Invalid),
        403 => Ok(Verdict::NotYours),
        410 => Ok(Verdict::Revoked),
        _ => Err(problems_from(status, body)),
    }
}

#[component]
pub fn CheckIn() -> View {
    let config = use_context::<&'static Config>();
    let session = require_user();
    let code = create_signal(String::new());
    let verdict = create_signal(None::<Verdict>);
    let problems = create_signal(Vec::<Problem>::new());
    let busy = create_signal(false);
    // One nonce per scan, kept only when no answer came back: sending the same scan again then
    // replays the first answer instead of reading as a second scan.
    let nonce = create_signal(new_key());
    let field = create_node_ref();
    let focus = move || {
        if let Some(input) = field
            .try_get()
            .and_then(|node| node.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = input.focus();
        }
    };

    let check_in = move |scanned: String| {
        let scanned = scanned.trim().to_owned();
        if scanned.is_empty() || busy.get() {
            return;
        }
        busy.set(true);
        verdict.set(Some(Verdict::Checking));
        let body = CheckinRequest {
            code: scanned,
            nonce: Some(nonce.get_clone()),
        };
        spawn_local_scoped(async move {
            let answer = Call::post("/checkins", &body)
                .answer(&config.api_base)
                .await;
            match answer {
                Ok(reply) => {
                    nonce.set(new_key());
                    code.set(String::new());
                    match verdict_of(reply.status, &reply.text) {
                        Ok(found) => {
                            verdict.set(Some(found));
                            problems.set(Vec::new());
                        }
                        Err(found) => {
                            verdict.set(None);
                            problems.set(found);
                        }
                    }
                }
                Err(Failure {
                    problems: found, ..
                }) => {
                    verdict.set(None);
                    problems.set(found);
                }
            }
            busy.set(false);
            // Ready for the next pass without a tap.
            focus();
        });
    };

    let submit = move |event: web_sys::SubmitEvent| {
        event.prevent_default();
        check_in(code.get_clone());
    };
    // The field has the focus from the start: a USB or Bluetooth scanner types into it at once.
    create_effect(move || {
        if session.user.with(Option::is_some) {
            focus();
        }
    });

    view! {
        h1 { "Check-in" }
        (if session.user.with(Option::is_some) {
            view! {
                form(class="form checkin", on:submit=submit, novalidate=true) {
                    div(class="field") {
                        label(r#for="code") { "Pass code" }
                        input(r#ref=field, id="code", name="code", r#type="text",
                            autocomplete="off", autocapitalize="off",
                            enterkeyhint="go", bind:value=code)
                    }
                    button(r#type="submit", disabled=move || busy.get()) { "Check in" }
                }
                (camera(check_in))
            }
        } else {
            view! { p(class="loading") { "Loading…" } }
        })
        // Room for the answer is kept even before the first scan, so nothing moves when it comes.
        div(class="verdict-slot", aria-live="assertive") {
            (match verdict.get_clone() {
                Some(found) => {
                    let (class, headline, detail) = (found.class(), found.headline(), found.detail());
                    view! {
                        p(class=class) { (headline) }
                        p(class="verdict-detail") { (detail) }
                    }
                }
                None => view! {},
            })
        }
        Alert(problems=problems)
    }
}

/// How often the camera's picture is searched for a QR code, and how long the same code is not
/// sent again while it stays in front of the camera.
const SCAN_MILLIS: i32 = 400;
const SAME_CODE_MILLIS: f64 = 4_000.0;

/// The browser's `BarcodeDetector`, where it has one (Chromium on Android and macOS, not Firefox).
fn barcode_detector() -> Option<js_sys::Function> {
    let window = web_sys::window()?;
    js_sys::Reflect::get(&window, &JsValue::from_str("BarcodeDetector"))
        .ok()?
        .dyn_into()
        .ok()
}

/// "Scan with the camera", only where the browser can read QR codes; each code it reads goes to
/// `on_code` as if typed. Typing always works without it.
fn camera(on_code: impl Fn(String) + Copy + 'static) -> View {
    let Some(constructor) = barcode_detector() else {
        return view! {};
    };
    let video = create_node_ref();
    let stream = create_signal(None::<web_sys::MediaStream>);
    let detector = create_signal(None::<JsValue>);
    let looking = create_signal(false);
    let last = create_signal((String::new(), 0.0));
    let problems = create_signal(Vec::<Problem>::new());

    let stop = move || {
        if let Some(media) = stream.get_clone() {
            for track in media.get_tracks() {
                if let Ok(track) = track.dyn_into::<web_sys::MediaStreamTrack>() {
                    track.stop();
                }
            }
        }
        stream.set(None);
    };
    on_cleanup(stop);

    let constructor = create_signal(constructor);
    let start = move |_| {
        let constructor = constructor.get_clone();
        spawn_local_scoped(async move {
            match open_camera(&constructor, video).await {
                Ok((media, found)) => {
                    stream.set(Some(media));
                    detector.set(Some(found));
                    problems.set(Vec::new());
                }
                Err(message) => problems.set(vec![Problem::general(message)]),
            }
        });
    };

    timer::every(SCAN_MILLIS, move || {
        let (Some(found), Some(element)) = (detector.get_clone(), video.try_get()) else {
            return;
        };
        if stream.with(Option::is_none) || looking.get() {
            return;
        }
        looking.set(true);
        spawn_local_scoped(async move {
            if let Some(code) = detect(&found, &element).await {
                let now = timer::now_millis();
                let repeated =
                    last.with(|(previous, at)| *previous == code && now - at < SAME_CODE_MILLIS);
                if !repeated {
                    last.set((code.clone(), now));
                    on_code(code);
                }
            }
            looking.set(false);
        });
    });

    view! {
        div(class="camera") {
            (if stream.with(Option::is_some) {
                view! { button(r#type="button", class="secondary", on:click=move |_| stop()) { "Stop the camera" } }
            } else {
                view! { button(r#type="button", class="secondary", on:click=start) { "Scan with the camera" } }
            })
            video(r#ref=video, class="camera-view", aria-label="Camera",
                hidden=move || stream.with(Option::is_none), muted=true, playsinline=true) {}
            Alert(problems=problems)
        }
    }
}

/// Asks for the back camera, shows it in `video`, and makes a QR-code detector.
async fn open_camera(
    constructor: &js_sys::Function,
    video: NodeRef,
) -> Result<(web_sys::MediaStream, JsValue), String> {
    let refused = |_| "The camera could not be opened. Type the code instead.".to_owned();
    let devices = web_sys::window()
        .ok_or_else(|| refused(JsValue::NULL))?
        .navigator()
        .media_devices()
        .map_err(refused)?;
    let wanted = js_sys::Object::new();
    js_sys::Reflect::set(&wanted, &"facingMode".into(), &"environment".into()).map_err(refused)?;
    let constraints = web_sys::MediaStreamConstraints::new();
    constraints.set_video(&wanted);
    let media: web_sys::MediaStream = JsFuture::from(
        devices
            .get_user_media_with_constraints(&constraints)
            .map_err(refused)?,
    )
    .await
    .and_then(|value| value.dyn_into())
    .map_err(refused)?;
    let element: web_sys::HtmlVideoElement = video
        .try_get()
        .and_then(|node| node.dyn_into().ok())
        .ok_or_else(|| refused(JsValue::NULL))?;
    element.set_src_object(Some(&media));
    let _ = element.play();

    let options = js_sys::Object::new();
    let formats = js_sys::Array::of1(&"qr_code".into());
    js_sys::Reflect::set(&options, &"formats".into(), &formats).map_err(refused)?;
    let detector =
        js_sys::Reflect::construct(constructor, &js_sys::Array::of1(&options)).map_err(refused)?;
    Ok((media, detector))
}

/// The text of the first QR code in the camera's current picture, if there is one.
async fn detect(detector: &JsValue, video: &web_sys::Node) -> Option<String> {
    let method: js_sys::Function = js_sys::Reflect::get(detector, &"detect".into())
        .ok()?
        .dyn_into()
        .ok()?;
    let promise: js_sys::Promise = method.call1(detector, video).ok()?.dyn_into().ok()?;
    let found: js_sys::Array = JsFuture::from(promise).await.ok()?.dyn_into().ok()?;
    js_sys::Reflect::get(&found.get(0), &"rawValue".into())
        .ok()?
        .as_string()
        .filter(|code| !code.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_answer_of_the_contract_has_its_own_words() {
        assert_eq!(
            verdict_of(400, r#"{"errors":[{"message":"Invalid code"}]}"#),
            Ok(Verdict::Invalid)
        );
        assert_eq!(verdict_of(410, ""), Ok(Verdict::Revoked));
        assert_eq!(verdict_of(403, ""), Ok(Verdict::NotYours));
        assert_eq!(
            Verdict::Already {
                at: "19:42".to_owned(),
                who: String::new()
            }
            .headline(),
            "Already checked in at 19:42"
        );
        assert!(verdict_of(502, "<html>").is_err());
    }
}
