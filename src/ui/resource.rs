//! Resources whose server-rendered value travels as postcard, like
//! server-function answers (`output = Postcard` on every server function).
//!
//! Postcard is a binary format read field by field in order: the browser
//! needs no text reader, no field-name matching and no float parser, which
//! JSON brought into the bundle once per type loaded. The value is put in
//! the page as base64, since the hydration data is text.

use std::future::Future;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use leptos::prelude::*;
use leptos::server::codee::{Decoder, Encoder};
use serde::{de::DeserializeOwned, Serialize};

/// Postcard in base64, for resources.
pub struct Postcard64;

/// Why a resource's server-rendered value could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Postcard64Error {
    #[error("not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("not postcard: {0}")]
    Postcard(#[from] postcard::Error),
}

impl<T: Serialize> Encoder<T> for Postcard64 {
    type Error = Postcard64Error;
    type Encoded = String;

    fn encode(value: &T) -> Result<String, Postcard64Error> {
        Ok(URL_SAFE_NO_PAD.encode(postcard::to_allocvec(value)?))
    }
}

impl<T: DeserializeOwned> Decoder<T> for Postcard64 {
    type Error = Postcard64Error;
    type Encoded = str;

    fn decode(text: &str) -> Result<T, Postcard64Error> {
        Ok(postcard::from_bytes(&URL_SAFE_NO_PAD.decode(text)?)?)
    }
}

/// `Resource::new` with [`Postcard64`].
#[track_caller]
pub fn resource<T, S, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> Resource<T, Postcard64>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    S: PartialEq + Clone + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    Resource::new_with_options(source, fetcher, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::error::UiError;

    #[test]
    fn values_survive_the_page() {
        let value: Result<Vec<(String, f32)>, UiError> = Ok(vec![("ação".into(), 42.5)]);
        let text = <Postcard64 as Encoder<_>>::encode(&value).unwrap();
        assert!(text.is_ascii());
        let back: Result<Vec<(String, f32)>, UiError> =
            <Postcard64 as Decoder<_>>::decode(&text).unwrap();
        assert_eq!(back, value);
        assert!(<Postcard64 as Decoder<Vec<String>>>::decode("não é base64").is_err());
    }
}
