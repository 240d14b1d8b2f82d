//! Text from outside (object keys from the lake, a spool's status file) made safe to
//! print on a terminal: one rule for every command.
//!
//! A key or a file's text can hold any character; printed as it is, an escape sequence
//! moves the cursor, recolours or retitles the terminal, and a bidirectional override
//! shows the text in another order than it has. Such characters are shown as Rust
//! escapes instead; everything else (accents, CJK, emoji) as it is:
//!
//! ```
//! use lakenode_cli::printable::printable;
//! assert_eq!(printable("data_0000.parquet"), "data_0000.parquet");
//! assert_eq!(printable("a\nb\u{1b}[31mc"), "a\\nb\\u{1b}[31mc");
//! assert_eq!(printable("é\u{202e}x"), "é\\u{202e}x");
//! ```

use std::borrow::Cow;

/// `text` with control characters (C0, DEL, C1) and Unicode's bidirectional
/// formatting characters escaped (`\n`, `\0`, `\u{1b}`, `\u{202e}`); borrowed when
/// there is none.
#[must_use]
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(unsafe_on_a_terminal) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_on_a_terminal(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Control characters, and the marks, embeddings, overrides and isolates of the
/// Unicode bidirectional algorithm (U+061C, U+200E-U+200F, U+202A-U+202E,
/// U+2066-U+2069).
fn unsafe_on_a_terminal(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_formatting_are_escaped_the_rest_kept() {
        for (text, shown) in [
            (
                "station=abc/data_0000.parquet",
                "station=abc/data_0000.parquet",
            ),
            ("tab\there", "tab\\there"),
            ("nul\0", "nul\\0"),
            ("del\u{7f}", "del\\u{7f}"),
            // C1: U+009B is a one-character CSI on many terminals.
            ("csi\u{9b}2J", "csi\\u{9b}2J"),
            ("title\u{1b}]0;x\u{7}", "title\\u{1b}]0;x\\u{7}"),
            ("abc\u{202e}fed", "abc\\u{202e}fed"),
            ("\u{2066}iso\u{2069}", "\\u{2066}iso\\u{2069}"),
            ("Zürich 北京 🌡", "Zürich 北京 🌡"),
            // A backslash is text: only what the terminal would act on is escaped.
            ("a\\nb", "a\\nb"),
        ] {
            assert_eq!(printable(text), shown, "{text:?}");
        }
        assert!(matches!(printable("plain"), Cow::Borrowed("plain")));
    }
}
