//! Certificate files named in a SQL server URL (`sslrootcert=`, `ssl-ca=`,
//! …) are read by the driver at each connection. One that does not exist
//! would fail every operation with a TLS error far from its cause, so the
//! stores refuse it at construction instead.

use crate::error::{Error, ErrorKind, Result};
use sqlx_core::Url;

/// The URL parameters, of PostgreSQL and MySQL drivers alike, that name a
/// certificate or key file (or hold the PEM text itself).
const FILE_PARAMETERS: &[&str] = &[
    "sslrootcert",
    "ssl-root-cert",
    "sslca",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
];

/// `InvalidOption` if a certificate parameter of `url` names a file that
/// cannot be read. The message names the parameter and the path (a path is
/// no secret), never the URL.
pub fn check(backend: &str, url: &Url) -> Result<()> {
    for (name, value) in url.query_pairs() {
        if !FILE_PARAMETERS.contains(&&*name) || value.trim_start().starts_with("-----BEGIN") {
            continue;
        }
        if let Err(e) = std::fs::File::open(&*value) {
            return Err(Error::new(
                ErrorKind::InvalidOption,
                format!("{backend}: {name}={value} cannot be read: {e}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_missing_files_only() {
        let url = |s: &str| Url::parse(s).unwrap();
        let missing = url("postgres://h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem");
        let e = check("PostgreSQL", &missing).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidOption);
        assert!(
            e.message.contains("sslrootcert=/nonexistent/ca.pem"),
            "{}",
            e.message
        );
        let here = std::env::current_exe().unwrap();
        let present = url(&format!("mysql://h/db?ssl-ca={}", here.display()));
        assert_eq!(check("MySQL", &present), Ok(()));
        assert_eq!(
            check("MySQL", &url("mysql://h/db?ssl-mode=required")),
            Ok(())
        );
    }
}
