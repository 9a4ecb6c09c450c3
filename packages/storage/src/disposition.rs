//! `Content-Disposition` for downloads. The filename comes from a client, so it is reduced to
//! something that cannot break out of the header or name a path: an ASCII fallback with every
//! unsafe character replaced, and the full name percent-encoded per RFC 6266 / RFC 8187.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// RFC 8187 `attr-char`: everything else is percent-encoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment; filename="…"; filename*=UTF-8''…` for `filename`.
pub fn attachment(filename: &str) -> String {
    let name = base_name(filename);
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '%' | ';') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
        utf8_percent_encode(&name, ATTR_CHAR)
    )
}

/// The last path segment of `filename` without control characters, at most 255 characters;
/// `file` when nothing is left. `../../etc/passwd` becomes `passwd`.
pub fn base_name(filename: &str) -> String {
    let last = filename.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last.chars().filter(|c| !c.is_control()).take(255).collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    if cleaned.is_empty() {
        "file".to_owned()
    } else {
        cleaned.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_header_breakers_are_neutralized() {
        assert_eq!(base_name("../../etc/passwd"), "passwd");
        assert_eq!(base_name("C:\\Users\\x\\evil.exe"), "evil.exe");
        assert_eq!(base_name(".."), "file");
        assert_eq!(base_name(".bashrc"), "bashrc");
        assert_eq!(base_name("a\r\nSet-Cookie: x"), "aSet-Cookie: x");
        assert_eq!(
            attachment("../../etc/passwd"),
            "attachment; filename=\"passwd\"; filename*=UTF-8''passwd"
        );
        assert_eq!(
            attachment("my \"photo\";.png"),
            "attachment; filename=\"my _photo__.png\"; filename*=UTF-8''my%20%22photo%22%3B.png"
        );
        assert_eq!(
            attachment("été.txt"),
            "attachment; filename=\"_t_.txt\"; filename*=UTF-8''%C3%A9t%C3%A9.txt"
        );
    }
}
