//! How the importer authenticates to an SGP.

use crate::secret::Secret;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SgpAuth {
    /// `token` and `app` fields in the request body (`app` is
    /// case-sensitive in SGP).
    Token { token: Secret, app: String },
    /// HTTP Basic with an SGP user's login.
    Basic { user: String, password: Secret },
}

impl SgpAuth {
    pub fn mode(&self) -> &'static str {
        match self {
            SgpAuth::Token { .. } => "token",
            SgpAuth::Basic { .. } => "basic",
        }
    }
}
