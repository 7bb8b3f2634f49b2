//! The Sigma `condition` expression: selections combined with `and`,
//! `or`, `not`, parentheses and the `1 of` / `all of` quantifiers.

/// A parsed condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// A selection by name.
    Selection(String),
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    /// `1 of pattern` (`all == false`) or `all of pattern`; the pattern is
    /// a selection name with `*` wildcards, or `them` for every selection.
    Of {
        all: bool,
        pattern: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Lexeme {
    Open,
    Close,
    Word(String),
}

fn lex(text: &str) -> Result<Vec<Lexeme>, String> {
    let mut lexemes = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            '(' => {
                chars.next();
                lexemes.push(Lexeme::Open);
            }
            ')' => {
                chars.next();
                lexemes.push(Lexeme::Close);
            }
            '|' => {
                return Err(
                    "aggregation expressions (`| count() ...`) are not supported; write a Sigma correlation rule instead"
                        .to_string(),
                );
            }
            c if c.is_whitespace() => {
                chars.next();
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '(' || c == ')' || c == '|' {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                lexemes.push(Lexeme::Word(word));
            }
        }
    }
    Ok(lexemes)
}

/// Parses one condition text.
pub fn parse_condition(text: &str) -> Result<Condition, String> {
    let lexemes = lex(text)?;
    let mut parser = Parser {
        lexemes: &lexemes,
        position: 0,
    };
    let condition = parser.or()?;
    match parser.lexemes.get(parser.position) {
        None => Ok(condition),
        Some(lexeme) => Err(format!(
            "unexpected {} in condition `{text}`",
            describe(lexeme)
        )),
    }
}

fn describe(lexeme: &Lexeme) -> String {
    match lexeme {
        Lexeme::Open => "`(`".to_string(),
        Lexeme::Close => "`)`".to_string(),
        Lexeme::Word(word) => format!("`{word}`"),
    }
}

struct Parser<'a> {
    lexemes: &'a [Lexeme],
    position: usize,
}

impl Parser<'_> {
    fn keyword(&self, keyword: &str) -> bool {
        matches!(self.lexemes.get(self.position), Some(Lexeme::Word(word)) if word.eq_ignore_ascii_case(keyword))
    }

    fn or(&mut self) -> Result<Condition, String> {
        let mut terms = vec![self.and()?];
        while self.keyword("or") {
            self.position += 1;
            terms.push(self.and()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Condition::Or(terms)
        })
    }

    fn and(&mut self) -> Result<Condition, String> {
        let mut terms = vec![self.not()?];
        while self.keyword("and") {
            self.position += 1;
            terms.push(self.not()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Condition::And(terms)
        })
    }

    fn not(&mut self) -> Result<Condition, String> {
        if self.keyword("not") {
            self.position += 1;
            return Ok(Condition::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Condition, String> {
        let Some(lexeme) = self.lexemes.get(self.position) else {
            return Err("the condition ends where a selection name was expected".to_string());
        };
        self.position += 1;
        match lexeme {
            Lexeme::Open => {
                let inner = self.or()?;
                match self.lexemes.get(self.position) {
                    Some(Lexeme::Close) => {
                        self.position += 1;
                        Ok(inner)
                    }
                    _ => Err("a `(` in the condition has no matching `)`".to_string()),
                }
            }
            Lexeme::Close => Err("unexpected `)` in the condition".to_string()),
            Lexeme::Word(word) => {
                let quantifier = word.to_ascii_lowercase();
                if (quantifier == "1" || quantifier == "all" || quantifier == "any")
                    && self.keyword("of")
                {
                    self.position += 1;
                    match self.lexemes.get(self.position) {
                        Some(Lexeme::Word(pattern)) => {
                            self.position += 1;
                            Ok(Condition::Of {
                                all: quantifier == "all",
                                pattern: pattern.clone(),
                            })
                        }
                        _ => Err(format!(
                            "`{word} of` must be followed by a selection name pattern or `them`"
                        )),
                    }
                } else if ["and", "or", "of"].contains(&quantifier.as_str()) {
                    Err(format!("unexpected `{word}` in the condition"))
                } else if word.chars().all(|c| c.is_ascii_digit()) {
                    Err(format!(
                        "`{word} of` is not supported; Sigma allows `1 of` and `all of`"
                    ))
                } else {
                    Ok(Condition::Selection(word.clone()))
                }
            }
        }
    }
}

/// Returns whether the selection `name` matches the `1 of` / `all of`
/// pattern (`*` matches any run of characters; `them` matches every
/// selection whose name does not start with `_`).
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    if pattern == "them" {
        return !name.starts_with('_');
    }
    fn matches(pattern: &[char], name: &[char]) -> bool {
        match pattern.split_first() {
            None => name.is_empty(),
            Some(('*', rest)) => (0..=name.len()).any(|skip| matches(rest, &name[skip..])),
            Some((c, rest)) => name.first() == Some(c) && matches(rest, &name[1..]),
        }
    }
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    matches(&pattern, &name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(name: &str) -> Condition {
        Condition::Selection(name.to_string())
    }

    #[test]
    fn precedence_and_parentheses() {
        assert_eq!(
            parse_condition("a or b and not c").unwrap(),
            Condition::Or(vec![
                sel("a"),
                Condition::And(vec![sel("b"), Condition::Not(Box::new(sel("c")))])
            ])
        );
        assert_eq!(
            parse_condition("(a or b) and 1 of filter_*").unwrap(),
            Condition::And(vec![
                Condition::Or(vec![sel("a"), sel("b")]),
                Condition::Of {
                    all: false,
                    pattern: "filter_*".to_string()
                }
            ])
        );
    }

    #[test]
    fn errors() {
        assert!(parse_condition("(a or b").is_err());
        assert!(parse_condition("a and").is_err());
        assert!(
            parse_condition("a | count() > 5")
                .unwrap_err()
                .contains("aggregation")
        );
    }

    #[test]
    fn patterns() {
        assert!(pattern_matches("sel*", "selection_img"));
        assert!(!pattern_matches("sel*", "filter"));
        assert!(pattern_matches("them", "filter"));
        assert!(!pattern_matches("them", "_helper"));
    }
}
