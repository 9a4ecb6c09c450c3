//! Text that people read, and the characters that deceive them: a name must show what it is,
//! and a message must show something.

/// Characters that change how the text around them is shown without being seen themselves:
/// bidirectional embeddings, overrides and isolates (U+202E shows what follows reversed), zero-
/// width spaces and word joiners, the byte-order mark. In a name they let one name pass for
/// another; no name needs them. (The zero-width joiner and non-joiner, which Persian, Indic
/// scripts and emoji sequences need, and the left-to-right and right-to-left marks are not
/// among them.)
pub fn is_deceptive(c: char) -> bool {
    matches!(c,
        '\u{180E}'
        | '\u{200B}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}'
        | '\u{FEFF}'
    )
}

/// Whether `c` shows nothing by itself: white space, the deceptive characters, joiners and
/// direction marks, the soft hyphen, and the blank letters some fonts draw as nothing (Hangul
/// fillers, the blank Braille pattern).
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || is_deceptive(c)
        || matches!(
            c,
            '\u{00AD}' | '\u{034F}' | '\u{115F}' | '\u{1160}' | '\u{200C}'
                ..='\u{200F}' | '\u{2800}' | '\u{3164}' | '\u{FFA0}'
        )
}

/// Whether `text` has at least one character that shows.
pub fn has_visible(text: &str) -> bool {
    text.chars().any(|c| !is_invisible(c))
}

/// A name (`what`: the field, for the error) as stored: trimmed, 1 to `max` characters, with
/// something that shows, and no control or deceptive character.
pub fn checked_name(raw: &str, what: &str, max: usize) -> Result<String, String> {
    let trimmed = raw.trim();
    if !(1..=max).contains(&trimmed.chars().count()) {
        return Err(format!("{what} must be 1 to {max} characters"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(format!("{what} may not contain control characters"));
    }
    if let Some(c) = trimmed.chars().find(|&c| is_deceptive(c)) {
        return Err(format!(
            "{what} may not contain invisible formatting characters (U+{:04X})",
            c as u32
        ));
    }
    if !has_visible(trimmed) {
        return Err(format!("{what} must have a character that shows"));
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_show_what_they_are() {
        assert_eq!(checked_name("  Zoë  ", "name", 64).unwrap(), "Zoë");
        assert_eq!(
            checked_name("می‌خواهم", "name", 64).unwrap(),
            "می‌خواهم",
            "ZWNJ in Persian"
        );
        assert_eq!(
            checked_name("👩‍💻 dev", "name", 64).unwrap(),
            "👩‍💻 dev",
            "ZWJ emoji"
        );
        for bad in [
            "admin\u{202E}nimda",
            "\u{2066}bob\u{2069}",
            "al\u{200B}ice",
            "\u{FEFF}carol",
            "\u{3164}",
            "\u{200D}\u{200C}",
            "   ",
            "tab\there",
        ] {
            assert!(checked_name(bad, "name", 64).is_err(), "{bad:?}");
        }
        assert!(checked_name(&"x".repeat(65), "name", 64).is_err());
    }

    #[test]
    fn a_text_of_only_invisible_characters_shows_nothing() {
        assert!(!has_visible("\u{200B}"));
        assert!(!has_visible(" \u{200B}\u{2060}\u{FEFF}\u{00AD} "));
        assert!(has_visible("\u{200B}a"));
        assert!(has_visible("🙂"));
    }
}
