//! Connection URLs in messages and `Debug` output, with their secrets
//! replaced by `***`: the password of the user info and a `password=` query
//! parameter. Works on any text, URL or not, so that even a malformed URL
//! in an error message shows no password (text that is neither
//! `scheme://…` nor `user:password@host` is not shown at all).

/// `url` with its password replaced by `***`.
pub fn mask_password(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        // Without a scheme only `user:password@host…` is recognisable; any
        // other text may hide a secret anywhere, so none of it is shown.
        None if url.contains('@') => (String::new(), url),
        None => return "<not a valid URL>".into(),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    format!("{scheme}{authority}{}", mask_query_password(tail))
}

/// A `password=` query parameter of the path-query-fragment `tail`, masked.
fn mask_query_password(tail: &str) -> String {
    let Some(query_start) = tail.find('?') else {
        return tail.to_owned();
    };
    let (path, query) = tail.split_at(query_start + 1);
    let (query, fragment) = query.split_at(query.find('#').unwrap_or(query.len()));
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if name.eq_ignore_ascii_case("password") => format!("{name}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{path}{}{fragment}", query.join("&"))
}

#[cfg(test)]
mod tests {
    use super::mask_password;

    #[test]
    fn masks_passwords_only() {
        assert_eq!(
            mask_password("redis://u:p@h:6379/0"),
            "redis://u:***@h:6379/0"
        );
        assert_eq!(mask_password("redis://u@h"), "redis://u@h");
        assert_eq!(mask_password("redis://h/#x@y"), "redis://h/#x@y");
        assert_eq!(mask_password("u:hunter2@h:1"), "u:***@h:1");
        assert_eq!(mask_password("redis://u:p@ss@h"), "redis://u:***@h");
        assert_eq!(
            mask_password("postgres://h/db?sslmode=require&password=s3cret#f"),
            "postgres://h/db?sslmode=require&password=***#f"
        );
        assert_eq!(
            mask_password("mysql://root@127.0.0.1:3306/test"),
            "mysql://root@127.0.0.1:3306/test"
        );
        assert_eq!(mask_password("::s3cret"), "<not a valid URL>");
    }
}
