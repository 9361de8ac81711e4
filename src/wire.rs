//! How server functions' answers (and errors) travel: JSON, as with server_fn's own
//! `Json`, but read in the browser from text rather than bytes.
//!
//! serde_json compiles a reader per type *and per input kind*. Island props and event
//! frames arrive as text, so reading server-function answers as text too lets the browser
//! bundle carry one reader per type instead of two (~15 % of the bundle).

use leptos::server_fn::codec::Post;
use leptos::server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// JSON read from UTF-8 text; see the module's note.
pub struct JsonTextEncoding;

/// The output encoding of every server function: `#[server(output = JsonText)]`.
pub type JsonText = Post<JsonTextEncoding>;

impl ContentType for JsonTextEncoding {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for JsonTextEncoding {
    const FORMAT_TYPE: Format = Format::Text;
}

impl<T: Serialize> Encodes<T> for JsonTextEncoding {
    type Error = serde_json::Error;

    fn encode(value: &T) -> Result<Bytes, Self::Error> {
        serde_json::to_vec(value).map(Bytes::from)
    }
}

impl<T: DeserializeOwned> Decodes<T> for JsonTextEncoding {
    type Error = serde_json::Error;

    fn decode(bytes: Bytes) -> Result<T, Self::Error> {
        let text = std::str::from_utf8(&bytes).map_err(serde::de::Error::custom)?;
        serde_json::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AppError;

    #[test]
    fn answers_and_errors_round_trip_and_bad_text_is_an_error() {
        let error = AppError::NotFound("Job 7".into());
        let bytes = <JsonTextEncoding as Encodes<AppError>>::encode(&error).unwrap();
        assert_eq!(&bytes[..], br#"{"NotFound":"Job 7"}"#);
        let back: AppError = <JsonTextEncoding as Decodes<AppError>>::decode(bytes).unwrap();
        assert_eq!(back, error);
        let not_utf8 = Bytes::from_static(b"\"\xff\"");
        assert!(<JsonTextEncoding as Decodes<String>>::decode(not_utf8).is_err());
    }
}
