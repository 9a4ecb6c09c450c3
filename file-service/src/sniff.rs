//! Does a file start the way its declared type says? Checked at `complete` on the first bytes
//! of the stored object, so a client cannot label an HTML page `image/png` and have other
//! members' browsers treat it as one.

/// How many bytes [`matches`] needs at most.
pub const PREFIX_LEN: usize = 4096;

/// Whether `prefix` (the first [`PREFIX_LEN`] bytes, or all of a shorter file) fits
/// `content_type`. `None` when this type has no known signature: the operator allowed a type
/// the check does not know, and nothing can be said.
pub fn matches(content_type: &str, prefix: &[u8]) -> Option<bool> {
    let starts = |magic: &[u8]| prefix.starts_with(magic);
    let at = |offset: usize, magic: &[u8]| {
        prefix
            .get(offset..offset + magic.len())
            .is_some_and(|b| b == magic)
    };
    let riff = |kind: &[u8]| starts(b"RIFF") && at(8, kind);
    let iso_media = || at(4, b"ftyp");
    let ebml = || starts(&[0x1a, 0x45, 0xdf, 0xa3]);
    Some(match content_type {
        "image/png" => starts(b"\x89PNG\r\n\x1a\n"),
        "image/jpeg" => starts(&[0xff, 0xd8, 0xff]),
        "image/gif" => starts(b"GIF87a") || starts(b"GIF89a"),
        "image/webp" => riff(b"WEBP"),
        "image/avif" | "image/heic" | "image/heif" => iso_media(),
        "image/bmp" => starts(b"BM"),
        "application/pdf" => starts(b"%PDF-"),
        "application/zip" => {
            starts(b"PK\x03\x04") || starts(b"PK\x05\x06") || starts(b"PK\x07\x08")
        }
        "text/plain" => is_text(prefix),
        "audio/mpeg" => {
            starts(b"ID3") || (prefix.len() >= 2 && prefix[0] == 0xff && prefix[1] & 0xe0 == 0xe0)
        }
        "audio/ogg" | "video/ogg" => starts(b"OggS"),
        "audio/wav" | "audio/x-wav" | "audio/wave" => riff(b"WAVE"),
        "audio/flac" => starts(b"fLaC"),
        "audio/webm" | "video/webm" => ebml(),
        "audio/mp4" | "audio/aac" | "video/mp4" | "video/quicktime" => iso_media(),
        _ => return None,
    })
}

/// Plain text: UTF-8 (a character cut at the end of the prefix is fine) without NUL bytes or
/// other control characters than tab, line feed, form feed and carriage return.
fn is_text(prefix: &[u8]) -> bool {
    let valid = match std::str::from_utf8(prefix) {
        Ok(text) => text,
        // At most three bytes of one character cut short at the end.
        Err(e) if e.error_len().is_none() && prefix.len() - e.valid_up_to() < 4 => {
            std::str::from_utf8(&prefix[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return false,
    };
    !valid
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\x0c'))
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn signatures() {
        assert_eq!(matches("image/png", b"\x89PNG\r\n\x1a\nrest"), Some(true));
        assert_eq!(matches("image/png", b"<html><script>"), Some(false));
        assert_eq!(matches("image/png", b""), Some(false));
        assert_eq!(matches("image/jpeg", &[0xff, 0xd8, 0xff, 0xe0]), Some(true));
        assert_eq!(matches("application/pdf", b"%PDF-1.7"), Some(true));
        assert_eq!(matches("application/pdf", b"PK\x03\x04"), Some(false));
        assert_eq!(matches("application/zip", b"PK\x03\x04"), Some(true));
        assert_eq!(matches("image/webp", b"RIFF\0\0\0\0WEBPVP8 "), Some(true));
        assert_eq!(matches("audio/wav", b"RIFF\0\0\0\0WEBPVP8 "), Some(false));
        assert_eq!(matches("video/mp4", b"\0\0\0\x18ftypmp42"), Some(true));
        assert_eq!(matches("application/x-custom", b"anything"), None);
    }

    #[test]
    fn text() {
        assert_eq!(
            matches("text/plain", "héllo\r\n\tworld".as_bytes()),
            Some(true)
        );
        assert_eq!(matches("text/plain", b""), Some(true));
        // A character cut by the end of the prefix.
        assert_eq!(matches("text/plain", &"é".as_bytes()[..1]), Some(true));
        assert_eq!(matches("text/plain", b"MZ\x90\0\x03"), Some(false));
        assert_eq!(matches("text/plain", b"\xff\xfe\xfd"), Some(false));
    }
}
