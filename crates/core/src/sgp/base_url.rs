//! The address of a provider's SGP, as admins paste it.

use std::fmt;

/// An SGP base URL: http(s), a host, no query, and none of the suffixes
/// admins paste by habit (`/`, `/admin`, `/api`). API paths are joined to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SgpBaseUrl(url::Url);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BaseUrlError {
    #[error("informe o endereço do SGP")]
    Empty,
    #[error("endereço inválido: use algo como https://provedor.sgp.net.br")]
    Invalid,
    #[error("o endereço precisa começar com https:// ou http://")]
    Scheme,
    #[error("o endereço não pode ter usuário, senha, parâmetros (?) ou âncora (#)")]
    Extra,
}

impl SgpBaseUrl {
    pub fn parse(input: &str) -> Result<Self, BaseUrlError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(BaseUrlError::Empty);
        }
        // "provedor.sgp.net.br" alone: admins often leave out the scheme.
        let with_scheme = if input.contains("://") {
            input.to_owned()
        } else {
            format!("https://{input}")
        };
        let mut url = url::Url::parse(&with_scheme).map_err(|_| BaseUrlError::Invalid)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(BaseUrlError::Scheme);
        }
        if url.host_str().is_none_or(|h| h.is_empty()) {
            return Err(BaseUrlError::Invalid);
        }
        if !url.username().is_empty()
            || url.password().is_some()
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err(BaseUrlError::Extra);
        }
        let mut path = url.path().trim_end_matches('/').to_owned();
        for suffix in ["/admin", "/api", "/ws"] {
            if path.to_ascii_lowercase().ends_with(suffix) {
                path.truncate(path.len() - suffix.len());
                path = path.trim_end_matches('/').to_owned();
            }
        }
        url.set_path(&path);
        Ok(SgpBaseUrl(url))
    }

    /// `path` below the base, e.g. `api/ura/clientes/`.
    pub fn join(&self, path: &str) -> String {
        format!(
            "{}/{}",
            self.0.as_str().trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str().trim_end_matches('/')
    }

    pub fn url(&self) -> &url::Url {
        &self.0
    }

    /// The host alone, for log lines.
    pub fn host(&self) -> &str {
        self.0.host_str().unwrap_or_default()
    }

    /// Same scheme, host and port: where a saved secret may still be sent.
    pub fn same_origin(&self, other: &SgpBaseUrl) -> bool {
        self.0.origin() == other.0.origin()
    }
}

impl fmt::Display for SgpBaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_what_admins_paste() {
        for input in [
            "https://demo.sgp.net.br",
            "https://demo.sgp.net.br/",
            "https://demo.sgp.net.br/admin",
            "https://demo.sgp.net.br/admin/",
            "  https://demo.sgp.net.br/api/ ",
            "demo.sgp.net.br",
        ] {
            let url = SgpBaseUrl::parse(input).unwrap();
            assert_eq!(url.as_str(), "https://demo.sgp.net.br", "{input}");
            assert_eq!(
                url.join("/api/ura/clientes/"),
                "https://demo.sgp.net.br/api/ura/clientes/"
            );
        }
        let sub = SgpBaseUrl::parse("http://127.0.0.1:8080/sgp/admin").unwrap();
        assert_eq!(
            sub.join("api/auth/info/"),
            "http://127.0.0.1:8080/sgp/api/auth/info/"
        );
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let base = SgpBaseUrl::parse("https://sgp.provedor.com.br/admin").unwrap();
        for same in [
            "sgp.provedor.com.br",
            "https://SGP.provedor.com.br:443/outro",
        ] {
            assert!(
                base.same_origin(&SgpBaseUrl::parse(same).unwrap()),
                "{same}"
            );
        }
        for other in [
            "http://sgp.provedor.com.br",
            "https://sgp.provedor.com.br:8443",
            "https://sgp.provedor.com.br.evil.example",
            "https://evil.example",
        ] {
            assert!(
                !base.same_origin(&SgpBaseUrl::parse(other).unwrap()),
                "{other}"
            );
        }
    }

    #[test]
    fn rejects_what_cannot_be_an_sgp() {
        assert_eq!(SgpBaseUrl::parse(" "), Err(BaseUrlError::Empty));
        assert_eq!(SgpBaseUrl::parse("ftp://x.net"), Err(BaseUrlError::Scheme));
        assert_eq!(SgpBaseUrl::parse("https://"), Err(BaseUrlError::Invalid));
        assert_eq!(
            SgpBaseUrl::parse("https://a.net/?token=1"),
            Err(BaseUrlError::Extra)
        );
        assert_eq!(
            SgpBaseUrl::parse("https://user:pw@a.net"),
            Err(BaseUrlError::Extra)
        );
    }
}
