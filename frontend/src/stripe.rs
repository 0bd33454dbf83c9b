//! Stripe.js, loaded at run time from `config.json`'s `stripeJsUrl` (locally the stand-in that
//! `localstripe` serves), so that card numbers go to Stripe and never through our API.

use js_sys::{Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    #[derive(Clone)]
    pub type StripeJs;
    #[wasm_bindgen(js_name = Stripe, catch)]
    fn stripe(publishable_key: &str) -> Result<StripeJs, JsValue>;
    #[wasm_bindgen(method)]
    fn elements(this: &StripeJs) -> Elements;
    #[wasm_bindgen(method, catch, js_name = createPaymentMethod)]
    fn create_payment_method(this: &StripeJs, data: &JsValue) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = createToken)]
    fn create_token(this: &StripeJs, card: &CardElement) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = confirmCardPayment)]
    fn confirm_card_payment(this: &StripeJs, client_secret: &str) -> Result<Promise, JsValue>;

    type Elements;
    #[wasm_bindgen(method)]
    fn create(this: &Elements, kind: &str) -> CardElement;

    #[derive(Clone)]
    pub type CardElement;
    #[wasm_bindgen(method, catch)]
    fn mount(this: &CardElement, selector: &str) -> Result<(), JsValue>;
}

const UNAVAILABLE: &str = "Card payments are unavailable right now. Please try again later.";

/// Adds Stripe.js to the page once; resolves when `Stripe` is defined.
async fn load_script(url: &str) -> Result<(), String> {
    let window = web_sys::window().ok_or(UNAVAILABLE)?;
    if Reflect::has(&window, &JsValue::from_str("Stripe")).unwrap_or(false) {
        return Ok(());
    }
    let document = window.document().ok_or(UNAVAILABLE)?;
    let script: web_sys::HtmlScriptElement = document
        .create_element("script")
        .map_err(|_| UNAVAILABLE)?
        .unchecked_into();
    script.set_src(url);
    let loaded = Promise::new(&mut |resolve, reject| {
        script.set_onload(Some(&resolve));
        script.set_onerror(Some(&reject));
    });
    document
        .head()
        .ok_or(UNAVAILABLE)?
        .append_child(&script)
        .map_err(|_| UNAVAILABLE)?;
    JsFuture::from(loaded).await.map_err(|_| UNAVAILABLE)?;
    Ok(())
}

/// A card form mounted in the page.
#[derive(Clone)]
pub struct CardForm {
    stripe: StripeJs,
    card: CardElement,
}

/// The `message` of a Stripe.js `{error: {message}}` result, if it has one.
fn error_message(result: &JsValue) -> Option<String> {
    let error = Reflect::get(result, &JsValue::from_str("error")).ok()?;
    if error.is_null() || error.is_undefined() {
        return None;
    }
    Some(
        Reflect::get(&error, &JsValue::from_str("message"))
            .ok()
            .and_then(|m| m.as_string())
            .unwrap_or_else(|| "The card could not be used.".to_owned()),
    )
}

fn path(value: &JsValue, keys: &[&str]) -> Option<String> {
    keys.iter()
        .try_fold(value.clone(), |v, key| {
            Reflect::get(&v, &JsValue::from_str(key)).ok()
        })
        .and_then(|v| v.as_string())
}

async fn settle(promise: Result<Promise, JsValue>) -> Result<JsValue, String> {
    let promise = promise.map_err(|_| UNAVAILABLE.to_owned())?;
    let result = JsFuture::from(promise)
        .await
        .map_err(|_| UNAVAILABLE.to_owned())?;
    match error_message(&result) {
        Some(message) => Err(message),
        None => Ok(result),
    }
}

impl CardForm {
    /// Loads Stripe.js and mounts its card Element into the element matching `selector`.
    pub async fn mount(
        script_url: &str,
        publishable_key: &str,
        selector: &str,
    ) -> Result<Self, String> {
        load_script(script_url).await?;
        let stripe = stripe(publishable_key).map_err(|_| UNAVAILABLE)?;
        let card = stripe.elements().create("card");
        card.mount(selector).map_err(|_| UNAVAILABLE)?;
        Ok(Self { stripe, card })
    }

    /// The PaymentMethod id for the card typed in: what `POST /api/payments` takes.
    pub async fn payment_method(&self) -> Result<String, String> {
        let data = js_sys::Object::new();
        let _ = Reflect::set(&data, &"type".into(), &"card".into());
        let _ = Reflect::set(&data, &"card".into(), &self.card);
        let result = settle(self.stripe.create_payment_method(&data)).await?;
        if let Some(id) = path(&result, &["paymentMethod", "id"]) {
            return Ok(id);
        }
        // The local stand-in has no createPaymentMethod; the card of a token is accepted wherever a
        // PaymentMethod id is (Stripe's compatibility rule for Card objects).
        let token = settle(self.stripe.create_token(&self.card)).await?;
        path(&token, &["token", "card", "id"]).ok_or_else(|| UNAVAILABLE.to_owned())
    }

    /// Runs the card's authentication (3-D Secure) for a PaymentIntent that requires action.
    pub async fn authenticate(&self, client_secret: &str) -> Result<(), String> {
        let result = settle(self.stripe.confirm_card_payment(client_secret)).await?;
        match path(&result, &["paymentIntent", "status"]).as_deref() {
            Some("succeeded" | "processing" | "requires_capture") => Ok(()),
            _ => Err(
                "The card could not be authenticated. Please try again or use another card."
                    .to_owned(),
            ),
        }
    }
}
