//! Sigma value modifiers (`field|contains|all: ...`) and the value
//! transformations they imply.
//!
//! A value is parsed into a [`Pattern`] of literal text and wildcards. The
//! transforming modifiers (`windash`, `wide`, `base64`, `base64offset`,
//! `expand`) turn one pattern into one or more patterns at compile time,
//! as pySigma does, so the engine needs no decoding function.

use base64_engine::encode;

/// What a value is compared with: the match operator of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// The whole value, with wildcards.
    Equals,
    Contains,
    StartsWith,
    EndsWith,
    /// A regular expression, with the `i`, `m` and `s` flags.
    Regex {
        i: bool,
        m: bool,
        s: bool,
    },
    /// An IPv4 network in CIDR notation.
    Cidr,
    /// Whether the field is present (`true`) or absent (`false`).
    Exists,
    /// Numeric comparisons.
    Gt,
    Gte,
    Lt,
    Lte,
    /// The value names another field of the same event.
    FieldRef,
}

/// A transformation applied to each value before it is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    Windash,
    /// UTF-16 little endian (`wide`, `utf16le`).
    Utf16Le,
    Utf16Be,
    /// UTF-16 little endian with a byte order mark.
    Utf16,
    Base64,
    Base64Offset,
    /// `%name%` placeholders.
    Expand,
}

/// The parsed modifier chain of one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modifiers {
    pub operator: Operator,
    /// Every value must match (`all`) instead of any one.
    pub all: bool,
    /// Case-sensitive comparison (`cased`).
    pub cased: bool,
    /// Transformations in the order they are applied.
    pub transforms: Vec<Transform>,
}

impl Default for Modifiers {
    fn default() -> Self {
        Modifiers {
            operator: Operator::Equals,
            all: false,
            cased: false,
            transforms: Vec::new(),
        }
    }
}

/// Parses the modifier names that follow the field name. An unknown name
/// is an error naming it.
pub fn parse_modifiers(names: &[&str]) -> Result<Modifiers, String> {
    let mut modifiers = Modifiers::default();
    let set_operator = |modifiers: &mut Modifiers, operator: Operator| {
        let regex_flag = matches!(modifiers.operator, Operator::Regex { .. })
            && matches!(operator, Operator::Regex { .. });
        if modifiers.operator != Operator::Equals && !regex_flag {
            return Err(format!(
                "modifier `{}` cannot follow another match modifier",
                operator_name(operator)
            ));
        }
        modifiers.operator = operator;
        Ok(())
    };
    for name in names {
        match *name {
            "contains" if modifiers.operator == Operator::FieldRef => {}
            "contains" => set_operator(&mut modifiers, Operator::Contains)?,
            "startswith" if modifiers.operator == Operator::FieldRef => {}
            "startswith" => set_operator(&mut modifiers, Operator::StartsWith)?,
            "endswith" if modifiers.operator == Operator::FieldRef => {}
            "endswith" => set_operator(&mut modifiers, Operator::EndsWith)?,
            "all" => modifiers.all = true,
            "cased" => modifiers.cased = true,
            "re" => {
                set_operator(
                    &mut modifiers,
                    Operator::Regex {
                        i: false,
                        m: false,
                        s: false,
                    },
                )?;
            }
            "i" | "ignorecase" | "m" | "multiline" | "s" | "dotall" => {
                match &mut modifiers.operator {
                    Operator::Regex { i, m, s } => match name.chars().next() {
                        Some('i') => *i = true,
                        Some('m') => *m = true,
                        _ => *s = true,
                    },
                    _ => return Err(format!("modifier `{name}` is only allowed after `re`")),
                }
            }
            "cidr" => set_operator(&mut modifiers, Operator::Cidr)?,
            "exists" => set_operator(&mut modifiers, Operator::Exists)?,
            "gt" => set_operator(&mut modifiers, Operator::Gt)?,
            "gte" => set_operator(&mut modifiers, Operator::Gte)?,
            "lt" => set_operator(&mut modifiers, Operator::Lt)?,
            "lte" => set_operator(&mut modifiers, Operator::Lte)?,
            "fieldref" => set_operator(&mut modifiers, Operator::FieldRef)?,
            "windash" => modifiers.transforms.push(Transform::Windash),
            "wide" | "utf16le" => modifiers.transforms.push(Transform::Utf16Le),
            "utf16be" => modifiers.transforms.push(Transform::Utf16Be),
            "utf16" => modifiers.transforms.push(Transform::Utf16),
            "base64" => modifiers.transforms.push(Transform::Base64),
            "base64offset" => modifiers.transforms.push(Transform::Base64Offset),
            "expand" => modifiers.transforms.push(Transform::Expand),
            other => {
                return Err(format!(
                    "unknown modifier `{other}`; Sigma modifiers are contains, startswith, endswith, all, cased, re (with i, m, s), cidr, exists, gt, gte, lt, lte, fieldref, windash, wide, utf16le, utf16be, utf16, base64, base64offset and expand"
                ));
            }
        }
    }
    Ok(modifiers)
}

fn operator_name(operator: Operator) -> &'static str {
    match operator {
        Operator::Equals => "equals",
        Operator::Contains => "contains",
        Operator::StartsWith => "startswith",
        Operator::EndsWith => "endswith",
        Operator::Regex { .. } => "re",
        Operator::Cidr => "cidr",
        Operator::Exists => "exists",
        Operator::Gt => "gt",
        Operator::Gte => "gte",
        Operator::Lt => "lt",
        Operator::Lte => "lte",
        Operator::FieldRef => "fieldref",
    }
}

/// One part of a Sigma string value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    Literal(String),
    /// `*`: any run of characters.
    Star,
    /// `?`: any one character.
    Question,
}

/// A Sigma string value: literal text and wildcards.
pub type Pattern = Vec<Token>;

fn push_literal(pattern: &mut Pattern, text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(Token::Literal(last)) = pattern.last_mut() {
        last.push_str(text);
    } else {
        pattern.push(Token::Literal(text.to_string()));
    }
}

/// Parses a string value with Sigma's wildcards: `*` and `?`, escaped as
/// `\*`, `\?`; `\\` is one backslash and any other backslash is literal.
pub fn parse_pattern(text: &str) -> Pattern {
    let mut pattern = Pattern::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&next @ ('*' | '?' | '\\')) => {
                    chars.next();
                    push_literal(&mut pattern, &next.to_string());
                }
                _ => push_literal(&mut pattern, "\\"),
            },
            '*' => pattern.push(Token::Star),
            '?' => pattern.push(Token::Question),
            other => push_literal(&mut pattern, &other.to_string()),
        }
    }
    pattern
}

/// A pattern as literal text, wildcards written back as `*` and `?`.
fn pattern_text(pattern: &Pattern) -> String {
    pattern
        .iter()
        .map(|token| match token {
            Token::Literal(text) => text.clone(),
            Token::Star => "*".to_string(),
            Token::Question => "?".to_string(),
        })
        .collect()
}

/// The dash characters `windash` tries in place of a leading `-` or `/`.
const WINDASH_CHARACTERS: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

/// At most this many variants come from one `windash` value.
const MAX_WINDASH_VARIANTS: usize = 625;

/// Every variant of `text` with each dash or slash at the start of a word
/// replaced by each of the Windows command-line dash characters.
fn windash_variants(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let positions: Vec<usize> = (0..chars.len())
        .filter(|&i| {
            (chars[i] == '-' || chars[i] == '/')
                && (i == 0 || !chars[i - 1].is_alphanumeric())
                && chars.get(i + 1).is_some_and(|c| c.is_alphanumeric())
        })
        .collect();
    let mut variants = vec![chars];
    for position in positions {
        if variants.len() * WINDASH_CHARACTERS.len() > MAX_WINDASH_VARIANTS {
            break;
        }
        variants = variants
            .into_iter()
            .flat_map(|variant| {
                WINDASH_CHARACTERS.iter().map(move |&dash| {
                    let mut variant = variant.clone();
                    variant[position] = dash;
                    variant
                })
            })
            .collect();
    }
    variants
        .into_iter()
        .map(|chars| chars.into_iter().collect())
        .collect()
}

/// A value while the transformations run: text with wildcards, or bytes
/// after an encoding.
#[derive(Debug, Clone)]
enum Stage {
    Text(Pattern),
    Bytes(Vec<u8>),
}

/// Applies `transforms` to one parsed value. Placeholders of `expand`
/// become `*`: homesoc has no placeholder values, so a placeholder matches
/// any text (pySigma's wildcard placeholder transformation).
pub fn transform(pattern: Pattern, transforms: &[Transform]) -> Result<Vec<Pattern>, String> {
    let mut stages = vec![Stage::Text(pattern)];
    for transform in transforms {
        let mut next = Vec::new();
        for stage in stages {
            match (transform, stage) {
                (Transform::Expand, Stage::Text(pattern)) => {
                    next.push(Stage::Text(expand(pattern)))
                }
                (Transform::Windash, Stage::Text(pattern)) => {
                    for variant in windash_variants(&pattern_text(&pattern)) {
                        next.push(Stage::Text(parse_literal_wildcards(&variant, &pattern)));
                    }
                }
                (
                    Transform::Utf16Le | Transform::Utf16Be | Transform::Utf16,
                    Stage::Text(pattern),
                ) => {
                    let text = literal_only(&pattern, "wide")?;
                    let mut bytes = Vec::new();
                    if *transform == Transform::Utf16 {
                        bytes.extend_from_slice(&[0xFF, 0xFE]);
                    }
                    for unit in text.encode_utf16() {
                        let pair = if *transform == Transform::Utf16Be {
                            unit.to_be_bytes()
                        } else {
                            unit.to_le_bytes()
                        };
                        bytes.extend_from_slice(&pair);
                    }
                    next.push(Stage::Bytes(bytes));
                }
                (Transform::Base64 | Transform::Base64Offset, stage) => {
                    let bytes = match stage {
                        Stage::Bytes(bytes) => bytes,
                        Stage::Text(pattern) => literal_only(&pattern, "base64")?.into_bytes(),
                    };
                    if *transform == Transform::Base64 {
                        next.push(Stage::Text(vec![Token::Literal(encode(&bytes))]));
                    } else {
                        for text in base64_offsets(&bytes) {
                            next.push(Stage::Text(vec![Token::Literal(text)]));
                        }
                    }
                }
                (_, Stage::Bytes(_)) => {
                    return Err(
                        "an encoding modifier (wide, utf16) must be followed by base64 or base64offset"
                            .to_string(),
                    );
                }
            }
        }
        stages = next;
    }
    stages
        .into_iter()
        .map(|stage| match stage {
            Stage::Text(pattern) => Ok(pattern),
            Stage::Bytes(_) => Err(
                "an encoding modifier (wide, utf16) must be followed by base64 or base64offset"
                    .to_string(),
            ),
        })
        .collect()
}

/// Re-parses windash output: the variant has the same wildcards as the
/// original pattern, in the same places, so literal `*` and `?` of the
/// original stay literal.
fn parse_literal_wildcards(variant: &str, original: &Pattern) -> Pattern {
    let mut pattern = Pattern::new();
    let mut rest = variant.chars();
    for token in original {
        match token {
            Token::Literal(text) => {
                let taken: String = rest.by_ref().take(text.chars().count()).collect();
                push_literal(&mut pattern, &taken);
            }
            Token::Star => {
                rest.next();
                pattern.push(Token::Star);
            }
            Token::Question => {
                rest.next();
                pattern.push(Token::Question);
            }
        }
    }
    pattern
}

fn literal_only(pattern: &Pattern, modifier: &str) -> Result<String, String> {
    let mut text = String::new();
    for token in pattern {
        match token {
            Token::Literal(part) => text.push_str(part),
            _ => {
                return Err(format!(
                    "a value with wildcards cannot be encoded with `{modifier}`; escape `*` and `?` as `\\*` and `\\?`"
                ));
            }
        }
    }
    Ok(text)
}

fn expand(pattern: Pattern) -> Pattern {
    let mut out = Pattern::new();
    for token in pattern {
        let Token::Literal(text) = token else {
            out.push(token);
            continue;
        };
        let mut rest = text.as_str();
        while let Some(start) = rest.find('%') {
            let Some(length) = rest[start + 1..].find('%') else {
                break;
            };
            let name = &rest[start + 1..start + 1 + length];
            if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                push_literal(&mut out, &rest[..start + 1]);
                rest = &rest[start + 1..];
                continue;
            }
            push_literal(&mut out, &rest[..start]);
            out.push(Token::Star);
            rest = &rest[start + 2 + length..];
        }
        push_literal(&mut out, rest);
    }
    out
}

/// The three base64 forms of `bytes` at each offset in a longer encoded
/// text, with the characters that depend on the neighbours cut off
/// (pySigma's `base64offset`).
pub fn base64_offsets(bytes: &[u8]) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    const END: [usize; 3] = [0, 3, 2];
    (0..3)
        .map(|shift| {
            let mut shifted = vec![b' '; shift];
            shifted.extend_from_slice(bytes);
            let encoded = encode(&shifted);
            let end = encoded.len() - END[(bytes.len() + shift) % 3];
            encoded
                .get(START[shift]..end.max(START[shift]))
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// Standard base64 with padding, enough for the `base64` modifiers.
mod base64_engine {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(bytes: &[u8]) -> String {
        let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
                if i <= chunk.len() {
                    out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_escapes() {
        assert_eq!(
            parse_pattern(r"a*b?c\*d\\e\f"),
            vec![
                Token::Literal("a".into()),
                Token::Star,
                Token::Literal("b".into()),
                Token::Question,
                Token::Literal(r"c*d\e\f".into()),
            ]
        );
    }

    #[test]
    fn base64offset_matches_pysigma() {
        // pySigma: base64offset of "/c" gives "L2", "9j", "vY".
        assert_eq!(base64_offsets(b"/c"), vec!["L2", "9j", "vY"]);
        assert_eq!(encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(encode(b"fo"), "Zm8=");
    }

    #[test]
    fn windash_variants_of_leading_dashes() {
        let variants = windash_variants(" -enc ");
        assert_eq!(variants.len(), 5);
        assert!(variants.contains(&" /enc ".to_string()));
        assert!(variants.contains(&" \u{2013}enc ".to_string()));
    }

    #[test]
    fn expand_placeholders_become_wildcards() {
        assert_eq!(
            expand(parse_pattern("%DC%\\admin")),
            vec![Token::Star, Token::Literal("\\admin".into())]
        );
    }

    #[test]
    fn unknown_and_misplaced_modifiers() {
        assert!(
            parse_modifiers(&["containz"])
                .unwrap_err()
                .contains("containz")
        );
        assert!(parse_modifiers(&["i"]).is_err());
        let re = parse_modifiers(&["re", "i", "s"]).unwrap();
        assert_eq!(
            re.operator,
            Operator::Regex {
                i: true,
                m: false,
                s: true
            }
        );
    }
}
