//! Redaction of URLs for logs and `Debug`.

use stackdock_core::secret::{is_secret_field, REDACTED};
use url::Url;

/// `url` without user-info and with secret query values (by
/// [`is_secret_field`]) replaced by `[REDACTED]`.
pub(crate) fn redacted_url(url: &Url) -> String {
    let mut out = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        out.push_str(&format!(":{port}"));
    }
    out.push_str(&redacted_path(url));
    out
}

/// Path and query of `url`, with secret query values redacted: what tracing prints.
pub(crate) fn redacted_path(url: &Url) -> String {
    let mut out = url.path().to_owned();
    if url.query().is_some() {
        let pairs: Vec<String> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret_field(&k) {
                    REDACTED.into()
                } else {
                    v
                };
                format!("{k}={v}")
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_urls_are_redacted() {
        let url =
            Url::parse("https://u:pw@api.example.com:8443/v1/x?teamId=t1&api_key=k3y&token=abc")
                .unwrap();
        let s = redacted_url(&url);
        assert_eq!(
            s,
            "https://api.example.com:8443/v1/x?teamId=t1&api_key=[REDACTED]&token=[REDACTED]"
        );
        assert!(!s.contains("pw"));
    }
}
