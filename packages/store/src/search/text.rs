//! How message search reads text, the same for both stores and for the final check of every
//! hit.
//!
//! Text is cut into [`Token`]s. Letters and digits of scripts written with spaces form
//! [`Token::Word`]s, compared without case and accents: `Café` is the word `cafe`. Scripts
//! written without spaces between words (Chinese, Japanese kana, Thai, Lao, Khmer, Burmese)
//! form [`Token::Run`]s, compared as they are written (after compatibility normalisation, so
//! half-width katakana equal full-width), since a query in them matches anywhere inside.
//!
//! A query matches a text ([`matches`]) when each of its words starts a word of the text and
//! each of its runs stands inside a run of the text.
//!
//! The stores cannot run that rule themselves over many messages, so they index terms that
//! find a superset of the matches ([`index_terms`] and [`query_terms`]; [`fts_text`] and
//! [`fts_query`] for SQLite's FTS5), and every candidate they return is checked with
//! [`matches`] before it is served.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::{decompose_canonical, is_combining_mark};

/// One piece of searchable text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A word: lowercase letters and digits, accents removed.
    Word(String),
    /// A run of characters of a script written without spaces.
    Run(String),
}

/// The longest word prefix that is indexed, in characters. A longer query word is looked up
/// by its first this-many characters and the rest checked by [`matches`].
pub const MAX_PREFIX_CHARS: usize = 16;

/// Whether `c` belongs to a script written without spaces between words.
pub fn unspaced(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF     // Thai, Lao
        | 0x1000..=0x109F   // Myanmar
        | 0x1780..=0x17FF   // Khmer
        | 0x3040..=0x30FF   // Hiragana, Katakana
        | 0x31F0..=0x31FF   // Katakana phonetic extensions
        | 0x3400..=0x4DBF   // CJK extension A
        | 0x4E00..=0x9FFF   // CJK unified ideographs
        | 0xF900..=0xFAFF   // CJK compatibility ideographs
        | 0x20000..=0x3134F // CJK extensions B to G
    )
}

/// `text` cut into tokens, in order.
pub fn tokens(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    let mut run = String::new();
    for c in text.nfkc() {
        if unspaced(c) {
            if !word.is_empty() {
                tokens.push(Token::Word(std::mem::take(&mut word)));
            }
            run.push(c);
            continue;
        }
        if !run.is_empty() {
            tokens.push(Token::Run(std::mem::take(&mut run)));
        }
        // The base letters without their accents: `é` is `e` and a combining acute.
        decompose_canonical(c, |d| {
            if is_combining_mark(d) {
                return;
            }
            if d.is_alphanumeric() {
                word.extend(d.to_lowercase());
            } else if !word.is_empty() {
                tokens.push(Token::Word(std::mem::take(&mut word)));
            }
        });
    }
    if !word.is_empty() {
        tokens.push(Token::Word(word));
    }
    if !run.is_empty() {
        tokens.push(Token::Run(run));
    }
    tokens
}

/// Whether a text of tokens `text` is found by a query of tokens `query` (see the module docs).
/// A query without tokens finds nothing.
pub fn matches(query: &[Token], text: &[Token]) -> bool {
    !query.is_empty()
        && query.iter().all(|q| match q {
            Token::Word(w) => text
                .iter()
                .any(|t| matches!(t, Token::Word(t) if t.starts_with(w.as_str()))),
            Token::Run(r) => text
                .iter()
                .any(|t| matches!(t, Token::Run(t) if t.contains(r.as_str()))),
        })
}

/// The first `n` characters of `s`.
fn prefix(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(i, _)| &s[..i])
}

/// The characters and the pairs of neighbouring characters of a run.
fn grams(run: &str) -> impl Iterator<Item = String> + '_ {
    let chars: Vec<char> = run.chars().collect();
    let pairs: Vec<String> = chars.windows(2).map(|w| w.iter().collect()).collect();
    chars.into_iter().map(String::from).chain(pairs)
}

/// The terms a text is indexed under, sorted and without repeats: every prefix (up to
/// [`MAX_PREFIX_CHARS`]) of each word, and every character and pair of characters of each run.
pub fn index_terms(text: &[Token]) -> Vec<String> {
    let mut terms = Vec::new();
    for token in text {
        match token {
            Token::Word(w) => {
                let mut end = 0;
                for c in w.chars().take(MAX_PREFIX_CHARS) {
                    end += c.len_utf8();
                    terms.push(w[..end].to_string());
                }
            }
            Token::Run(r) => terms.extend(grams(r)),
        }
    }
    terms.sort_unstable();
    terms.dedup();
    terms
}

/// The terms every match of `query` is indexed under: each word's first
/// [`MAX_PREFIX_CHARS`] characters; each run's pairs of characters, or the character of a run
/// of one.
pub fn query_terms(query: &[Token]) -> Vec<String> {
    let mut terms = Vec::new();
    for token in query {
        match token {
            Token::Word(w) => terms.push(prefix(w, MAX_PREFIX_CHARS).to_string()),
            Token::Run(r) if r.chars().count() == 1 => terms.push(r.clone()),
            Token::Run(r) => {
                let chars: Vec<char> = r.chars().collect();
                terms.extend(chars.windows(2).map(|w| w.iter().collect::<String>()));
            }
        }
    }
    terms.sort_unstable();
    terms.dedup();
    terms
}

/// The text SQLite's FTS5 indexes for a message: its words, and each character of its runs as
/// a token of its own, all separated by spaces.
pub fn fts_text(text: &[Token]) -> String {
    let mut out = String::new();
    for token in text {
        match token {
            Token::Word(w) => {
                out.push_str(w);
                out.push(' ');
            }
            Token::Run(r) => {
                for c in r.chars() {
                    out.push(c);
                    out.push(' ');
                }
            }
        }
    }
    out
}

/// The FTS5 query for `query`: a prefix query per word, and a phrase of its characters per run
/// (consecutive tokens, so a run inside a run), all required.
pub fn fts_query(query: &[Token]) -> String {
    query
        .iter()
        .map(|token| match token {
            // Tokens hold letters, digits and marks only: nothing to escape inside the quotes.
            Token::Word(w) => format!("\"{w}\"*"),
            Token::Run(r) => {
                let spaced: Vec<String> = r.chars().map(String::from).collect();
                format!("\"{}\"", spaced.join(" "))
            }
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(s: &str) -> Token {
        Token::Word(s.into())
    }

    fn run(s: &str) -> Token {
        Token::Run(s.into())
    }

    fn finds(query: &str, text: &str) -> bool {
        matches(&tokens(query), &tokens(text))
    }

    #[test]
    fn words_lose_case_and_accents_and_runs_keep_their_characters() {
        assert_eq!(
            tokens("Café AU lait, naïve—Ærø!"),
            vec![
                word("cafe"),
                word("au"),
                word("lait"),
                word("naive"),
                word("ærø")
            ]
        );
        assert_eq!(
            tokens("東京タワーへ行く tower2"),
            vec![run("東京タワーへ行く"), word("tower2")]
        );
        // Half-width katakana are their full-width letters; dakuten are kept.
        assert_eq!(tokens("ｶﾞｲﾄﾞ"), vec![run("ガイド")]);
        assert_eq!(
            tokens("中文abc中文"),
            vec![run("中文"), word("abc"), run("中文")]
        );
        assert!(tokens("  ... !!").is_empty());
    }

    #[test]
    fn the_matching_rules() {
        assert!(finds("caf", "Café crème"));
        assert!(finds("CRÈME", "cafe creme"));
        assert!(finds("caf crem", "crème, café"));
        assert!(!finds("afe", "Café"), "a word matches from its start only");
        assert!(!finds("caf tea", "Café crème"), "every word is needed");
        assert!(finds("京タ", "東京タワーへ行く"), "runs match inside");
        assert!(!finds("京行", "東京タワーへ行く"));
        assert!(finds("東京 tow", "東京tower"));
        assert!(!finds("", "anything"));
        assert!(!finds("!!", "anything !!"));
    }

    #[test]
    fn index_terms_find_a_superset_of_the_matches() {
        let text = tokens("Supercalifragilisticexpialidocious 東京タ");
        let indexed = index_terms(&text);
        for query in [
            "super",
            "supercalifragilisticexp",
            "東京",
            "京タ",
            "タ",
            "東京タ",
        ] {
            let q = tokens(query);
            assert!(matches(&q, &text), "{query}");
            for term in query_terms(&q) {
                assert!(indexed.contains(&term), "{query}: {term} is not indexed");
            }
        }
        assert!(
            indexed
                .iter()
                .all(|t| t.chars().count() <= MAX_PREFIX_CHARS)
        );
    }

    #[test]
    fn fts_forms() {
        let text = tokens("Café 東京");
        assert_eq!(fts_text(&text), "cafe 東 京 ");
        assert_eq!(fts_query(&tokens("caf 東京")), "\"caf\"* AND \"東 京\"");
    }
}
