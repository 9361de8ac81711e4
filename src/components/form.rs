//! Form fields that show their validation message beside the input.

use leptos::prelude::*;

use crate::error::AppError;
use crate::validation::FieldErrors;

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
