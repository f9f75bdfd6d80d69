//! Names spliced into SQL (tables, indexes): only what needs no quoting.

/// Whether `name` is 1 to `max_len` ASCII letters, digits and underscores,
/// not starting with a digit: a name that cannot inject anything.
pub fn is_sql_identifier(name: &str, max_len: usize) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= max_len
}
