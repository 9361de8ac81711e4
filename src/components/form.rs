//! Form fields that show their validation message beside the input, and the island forms
//! that save through a server function.

use std::future::Future;

use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use crate::error::AppError;
use crate::validation::FieldErrors;

/// False on the server and while an island hydrates, true once it is live: for what a
/// form shows or allows only with JavaScript, rendered the same on both sides first.
pub fn once_hydrated() -> ReadSignal<bool> {
    let (hydrated, set_hydrated) = signal(false);
    // Effects run only in the browser, after hydration.
    Effect::new(move |_| set_hydrated.set(true));
    hydrated
}

/// A submitted form's values by field name.
pub type Fields<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Reads a model posted as server-function argument `form` (fields `form[<name>]`).
pub fn in_form(field: Fields, name: &str) -> Option<String> {
    field(&format!("form[{name}]"))
}

/// An island form's save: calls `save` with the form and, once it succeeded, loads `done`
/// (the page a plain post of the same form is redirected to).
///
/// Island forms submit through this rather than `ActionForm`, whose reading of form data
/// (serde_qs) and of errors in the address would add ~30 KB to the browser bundle.
///
/// `posted` is the error of a plain post of the same form (see [`posted_error`]), shown
/// until the next save.
pub fn save_then_go<F, T, Fut>(
    done: String,
    posted: Option<AppError>,
    save: impl Fn(F) -> Fut + Send + Sync + 'static,
) -> Action<F, Result<T, AppError>>
where
    F: Clone + Send + Sync + 'static,
    T: Send + Sync + 'static,
    Fut: Future<Output = Result<T, AppError>> + Send + 'static,
{
    Action::new_with_value(posted.map(Err), move |form: &F| {
        let saving = save(form.clone());
        let done = done.clone();
        async move {
            let saved = saving.await;
            #[cfg(feature = "hydrate")]
            if saved.is_ok() {
                let _ = window().location().set_href(&done);
            }
            #[cfg(not(feature = "hydrate"))]
            let _ = done;
            saved
        }
    })
}

/// The error of a plain post (JavaScript off, or not loaded yet) of server function `S`,
/// which the server sends back in the page's address. Read by the server for an island's
/// prop: the browser has no request to read it from, and the island must hydrate with what
/// the server rendered.
pub fn posted_error<S: leptos::server_fn::ServerFn>() -> Option<AppError> {
    #[cfg(feature = "ssr")]
    {
        use leptos::server::ServerActionError;
        use leptos::server_fn::error::ServerFnUrlError;
        let posted = use_context::<ServerActionError>()?;
        (posted.path() == S::PATH).then(|| ServerFnUrlError::<AppError>::decode_err(posted.err()))
    }
    #[cfg(not(feature = "ssr"))]
    None
}

/// The handler of an island form's submit: the form's values, read by field name with
/// `read`, go to `action` instead of a page load. Without JavaScript the same form posts.
pub fn submit_to<F>(
    action: Action<F, impl Send + Sync + 'static>,
    read: fn(Fields) -> F,
) -> impl Fn(SubmitEvent) + 'static
where
    F: Send + Sync + 'static,
{
    move |ev: SubmitEvent| {
        use leptos::wasm_bindgen::JsCast;
        ev.prevent_default();
        let data = ev
            .target()
            .and_then(|target| target.dyn_into::<leptos::web_sys::HtmlFormElement>().ok())
            .and_then(|form| leptos::web_sys::FormData::new_with_form(&form).ok());
        let field = |name: &str| data.as_ref()?.get(name).as_string();
        action.dispatch(read(&field));
    }
}

/// The field errors of an action's last result, as a signal for the fields.
pub fn field_errors_of<T, V>(value: V) -> Signal<FieldErrors>
where
    T: 'static,
    V: With<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
{
    Signal::derive(move || {
        value.with(|v| match v {
            Some(Err(AppError::Validation(errors))) => errors.clone(),
            _ => FieldErrors::default(),
        })
    })
}

/// A banner for an action's error that is not about one field (or a summary when it is).
#[component]
pub fn ActionError<T, V>(value: V) -> impl IntoView
where
    T: 'static,
    V: With<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
{
    move || {
        value.with(|v| match v {
            Some(Err(error)) => Some(view! {
                <div class="alert alert-error" role="alert" data-testid="form-error">{error.to_string()}</div>
            }),
            _ => None,
        })
    }
}

#[component]
pub fn TextField(
    label: &'static str,
    /// The input's `name` (e.g. `form[url]`).
    name: &'static str,
    /// The key of this field in [`FieldErrors`].
    field: &'static str,
    #[prop(into)] value: String,
    errors: Signal<FieldErrors>,
    #[prop(default = "text")] input_type: &'static str,
    #[prop(optional)] placeholder: &'static str,
    #[prop(optional)] help: &'static str,
    #[prop(optional)] autocomplete: &'static str,
) -> impl IntoView {
    let id = format!("field-{field}");
    let error = move || errors.with(|e| e.get(field).map(str::to_string));
    view! {
        <div class="field" class:has-error=move || error().is_some()>
            <label for=id.clone()>{label}</label>
            <input
                id=id.clone()
                type=input_type
                name=name
                value=value
                placeholder=placeholder
                autocomplete=if autocomplete.is_empty() { "off" } else { autocomplete }
                aria-invalid=move || if error().is_some() { "true" } else { "false" }
            />
            {(!help.is_empty()).then(|| view! { <p class="help">{help}</p> })}
            {move || error().map(|message| view! { <p class="field-error" data-field=field>{message}</p> })}
        </div>
    }
}

#[component]
pub fn TextAreaField(
    label: &'static str,
    name: &'static str,
    field: &'static str,
    #[prop(into)] value: String,
    errors: Signal<FieldErrors>,
    #[prop(optional)] help: &'static str,
) -> impl IntoView {
    let id = format!("field-{field}");
    let error = move || errors.with(|e| e.get(field).map(str::to_string));
    view! {
        <div class="field" class:has-error=move || error().is_some()>
            <label for=id.clone()>{label}</label>
            <textarea id=id name=name rows="4" spellcheck="false">{value}</textarea>
            {(!help.is_empty()).then(|| view! { <p class="help">{help}</p> })}
            {move || error().map(|message| view! { <p class="field-error" data-field=field>{message}</p> })}
        </div>
    }
}

#[component]
pub fn CheckboxField(
    label: &'static str,
    name: &'static str,
    checked: bool,
    #[prop(optional)] help: &'static str,
) -> impl IntoView {
    view! {
        <div class="field field-check">
            <label>
                <input type="checkbox" name=name checked=checked/>
                " "{label}
            </label>
            {(!help.is_empty()).then(|| view! { <p class="help">{help}</p> })}
        </div>
    }
}
