//! List filters (AIP-160), the subset an OKR platform's clients need:
//! comparisons `field = value`, `!=`, `<`, `<=`, `>`, `>=`, and `:` (has, a
//! substring for text), combined with `AND`, `OR` and `NOT`. As AIP-160 says,
//! `OR` binds tighter than `AND`: `a AND b OR c` is `a AND (b OR c)`.
//! Parentheses are not supported; the parse error says so.
//!
//! A filter is client input, so it is bounded before anything else reads
//! it: at most [`MAX_FILTER_BYTES`] bytes and [`MAX_FILTER_TERMS`]
//! comparisons. Parsing is one pass over the tokens and the condition it
//! builds is two levels deep whatever the input, so no filter can exhaust a
//! thread's stack or hand the database an expression tree it refuses.

use sea_orm::sea_query::{Condition, Expr, ExprTrait, LikeExpr};

use crate::error::Error;

/// The longest filter accepted, in bytes.
pub const MAX_FILTER_BYTES: usize = 4_096;
/// The most comparisons a filter may hold.
pub const MAX_FILTER_TERMS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Has,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub field: String,
    pub operator: Operator,
    pub value: String,
    pub negated: bool,
}

/// A parsed filter: every group must hold; within a group, any comparison.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub groups: Vec<Vec<Comparison>>,
}

/// How a filterable field's values are read.
#[derive(Debug, Clone, Copy)]
pub enum FieldKind {
    Text,
    Integer,
    /// One of these names (an enum stored as its name).
    Enum(&'static [&'static str]),
    /// A resource name of this collection (`orgUnits`), stored as its id;
    /// `""` matches the empty reference (no parent, no owner).
    ResourceName(&'static str),
    /// A repeated field stored as `|a|b|` (or "" when empty): `field:value`
    /// holds when `value` is one of its members, exactly.
    Members,
}

/// A field clients may filter on and the column it reads.
#[derive(Debug, Clone)]
pub struct FilterField {
    pub name: &'static str,
    pub column: Expr,
    pub kind: FieldKind,
}

impl FilterField {
    pub fn new(name: &'static str, column: impl Into<Expr>, kind: FieldKind) -> FilterField {
        FilterField {
            name,
            column: column.into(),
            kind,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Operator(Operator),
    OpenParen,
}

fn invalid(description: impl Into<String>) -> Error {
    Error::invalid("filter", description)
}

fn tokenize(text: &str) -> Result<Vec<Token>, Error> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '"' || c == '\'' {
            chars.next();
            let mut value = String::new();
            let mut closed = false;
            while let Some(next) = chars.next() {
                match next {
                    '\\' => value.push(chars.next().ok_or_else(|| invalid("dangling escape"))?),
                    quote if quote == c => {
                        closed = true;
                        break;
                    }
                    other => value.push(other),
                }
            }
            if !closed {
                return Err(invalid("unterminated string"));
            }
            tokens.push(Token::Quoted(value));
            continue;
        }
        if c == '(' || c == ')' {
            chars.next();
            tokens.push(Token::OpenParen);
            continue;
        }
        if "=!<>:".contains(c) {
            chars.next();
            let followed_by_eq = chars.peek() == Some(&'=');
            let operator = match (c, followed_by_eq) {
                ('=', _) => Operator::Eq,
                (':', _) => Operator::Has,
                ('!', true) => Operator::Ne,
                ('<', true) => Operator::Le,
                ('>', true) => Operator::Ge,
                ('<', false) => Operator::Lt,
                ('>', false) => Operator::Gt,
                _ => return Err(invalid("'!' must be followed by '='")),
            };
            if followed_by_eq && c != '=' && c != ':' {
                chars.next();
            }
            tokens.push(Token::Operator(operator));
            continue;
        }
        let mut word = String::new();
        while let Some(&next) = chars.peek() {
            if next.is_whitespace() || "=!<>:()\"'".contains(next) {
                break;
            }
            word.push(next);
            chars.next();
        }
        tokens.push(Token::Word(word));
    }
    Ok(tokens)
}

/// Parses a filter; an empty text is the filter that matches everything.
pub fn parse(text: &str) -> Result<Filter, Error> {
    if text.len() > MAX_FILTER_BYTES {
        return Err(invalid(format!(
            "must be at most {MAX_FILTER_BYTES} bytes, got {}",
            text.len()
        )));
    }
    let tokens = tokenize(text)?;
    if tokens.contains(&Token::OpenParen) {
        return Err(invalid("parentheses are not supported; OR binds tighter than AND"));
    }
    let mut filter = Filter::default();
    let mut group = Vec::new();
    let mut position = 0;
    while position < tokens.len() {
        let mut negated = false;
        if let Some(Token::Word(word)) = tokens.get(position)
            && (word == "NOT" || word == "-")
        {
            negated = true;
            position += 1;
        }
        let (Some(Token::Word(field)), Some(Token::Operator(operator)), Some(value)) =
            (tokens.get(position), tokens.get(position + 1), tokens.get(position + 2))
        else {
            return Err(invalid("expected `field operator value`"));
        };
        let value = match value {
            Token::Word(value) | Token::Quoted(value) => value.clone(),
            _ => return Err(invalid(format!("expected a value after {field}"))),
        };
        if filter.groups.iter().map(Vec::len).sum::<usize>() + group.len() == MAX_FILTER_TERMS {
            return Err(invalid(format!("must hold at most {MAX_FILTER_TERMS} comparisons")));
        }
        group.push(Comparison {
            field: field.clone(),
            operator: *operator,
            value,
            negated,
        });
        position += 3;
        match tokens.get(position) {
            None => {}
            Some(Token::Word(word)) if word == "OR" => position += 1,
            Some(Token::Word(word)) if word == "AND" => {
                position += 1;
                filter.groups.push(std::mem::take(&mut group));
            }
            Some(other) => return Err(invalid(format!("expected AND or OR, found {other:?}"))),
        }
        if position == tokens.len() && matches!(tokens.last(), Some(Token::Word(w)) if w == "AND" || w == "OR") {
            return Err(invalid("filter ends with an operator"));
        }
    }
    if !group.is_empty() {
        filter.groups.push(group);
    }
    Ok(filter)
}

impl Filter {
    /// The SQL condition over `fields`; an unknown field or a value of the
    /// wrong kind is an `INVALID_ARGUMENT` naming it.
    pub fn to_condition(&self, fields: &[FilterField]) -> Result<Condition, Error> {
        let mut all = Condition::all();
        for group in &self.groups {
            let mut any = Condition::any();
            for comparison in group {
                any = any.add(comparison_expr(comparison, fields)?);
            }
            all = all.add(any);
        }
        Ok(all)
    }

    /// A stable text of the filter, to bind page tokens to it.
    pub fn fingerprint(&self) -> String {
        format!("{:?}", self.groups)
    }
}

fn comparison_expr(comparison: &Comparison, fields: &[FilterField]) -> Result<Expr, Error> {
    let Some(field) = fields.iter().find(|field| field.name == comparison.field) else {
        let known: Vec<&str> = fields.iter().map(|field| field.name).collect();
        return Err(invalid(format!(
            "unknown field {:?}; filterable fields are {}",
            comparison.field,
            known.join(", ")
        )));
    };
    let column = field.column.clone();
    let expr = match field.kind {
        FieldKind::Integer => {
            let value: i64 = comparison
                .value
                .parse()
                .map_err(|_| invalid(format!("{} takes an integer, got {:?}", field.name, comparison.value)))?;
            ordered(column, comparison.operator, value, field.name)?
        }
        FieldKind::Enum(names) => {
            if !names.contains(&comparison.value.as_str()) {
                return Err(invalid(format!(
                    "{} is one of {}, got {:?}",
                    field.name,
                    names.join(", "),
                    comparison.value
                )));
            }
            match comparison.operator {
                Operator::Eq | Operator::Has => column.eq(comparison.value.clone()),
                Operator::Ne => column.ne(comparison.value.clone()),
                _ => return Err(invalid(format!("{} supports only =, != and :", field.name))),
            }
        }
        FieldKind::ResourceName(collection) => {
            let id = if comparison.value.is_empty() {
                String::new()
            } else {
                // Period ids ("2027-q1") are accepted for any collection: a
                // name no resource has simply matches nothing.
                comparison
                    .value
                    .strip_prefix(collection)
                    .and_then(|rest| rest.strip_prefix('/'))
                    .filter(|id| crate::names::is_valid_period_id(id))
                    .ok_or_else(|| invalid(format!("{} takes a {collection}/{{id}} name", field.name)))?
                    .to_owned()
            };
            match comparison.operator {
                Operator::Eq => column.eq(id),
                Operator::Ne => column.ne(id),
                _ => return Err(invalid(format!("{} supports only = and !=", field.name))),
            }
        }
        FieldKind::Members => match comparison.operator {
            Operator::Has if !comparison.value.contains('|') && !comparison.value.is_empty() => {
                column.like(contains_pattern(&format!("|{}|", comparison.value)))
            }
            Operator::Has => return Err(invalid(format!("{} takes one non-empty value without '|'", field.name))),
            _ => {
                return Err(invalid(format!(
                    "{} is a list: use {}:\"value\"",
                    field.name, field.name
                )));
            }
        },
        FieldKind::Text => match comparison.operator {
            Operator::Has => column.like(contains_pattern(&comparison.value)),
            operator => ordered(column, operator, comparison.value.clone(), field.name)?,
        },
    };
    Ok(if comparison.negated { expr.not() } else { expr })
}

fn ordered<V: Into<sea_orm::Value>>(column: Expr, operator: Operator, value: V, field: &str) -> Result<Expr, Error> {
    Ok(match operator {
        Operator::Eq => column.eq(value.into()),
        Operator::Ne => column.ne(value.into()),
        Operator::Lt => column.lt(value.into()),
        Operator::Le => column.lte(value.into()),
        Operator::Gt => column.gt(value.into()),
        Operator::Ge => column.gte(value.into()),
        Operator::Has => return Err(invalid(format!("{field} does not support ':'"))),
    })
}

/// A LIKE pattern matching `value` anywhere, its wildcards taken literally.
fn contains_pattern(value: &str) -> LikeExpr {
    let mut escaped = String::with_capacity(value.len() + 2);
    escaped.push('%');
    for c in value.chars() {
        if matches!(c, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    LikeExpr::new(escaped).escape('\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn or_binds_tighter_than_and() {
        let filter = parse(r#"state = "ACTIVE" OR state = DRAFT AND owner = "orgUnits/acme""#).ok();
        let groups = filter.map(|filter| filter.groups).unwrap_or_default();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].len(), 2);
        assert_eq!(groups[1][0].value, "orgUnits/acme");
    }

    #[test]
    fn operators_and_negation_parse() {
        let filter = parse("depth >= 2 AND NOT kind != team AND display_name:growth").ok();
        let groups = filter.map(|filter| filter.groups).unwrap_or_default();
        assert_eq!(groups[0][0].operator, Operator::Ge);
        assert!(groups[1][0].negated);
        assert_eq!(groups[1][0].operator, Operator::Ne);
        assert_eq!(groups[2][0].operator, Operator::Has);
    }

    #[test]
    fn malformed_filters_are_refused() {
        for text in ["state =", "state ACTIVE", "(a = b)", "a = b AND", "a = \"open", "a ! b"] {
            assert!(parse(text).is_err(), "{text} should not parse");
        }
        assert_eq!(parse("").ok(), Some(Filter::default()));
    }

    #[test]
    fn long_and_many_termed_filters_are_refused() {
        let terms = |count: usize| vec!["a = b"; count].join(" OR ");
        assert!(parse(&terms(MAX_FILTER_TERMS)).is_ok());
        assert!(parse(&terms(MAX_FILTER_TERMS + 1)).is_err());
        assert!(parse(&terms(15_000)).is_err());
        assert!(parse(&"x".repeat(MAX_FILTER_BYTES + 1)).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Any text parses or is refused; what parses stays within the limits.
        #[test]
        fn any_text_parses_within_the_limits_or_is_refused(text in "[a-z =!<>:()\"'ANDOR\\-]{0,400}") {
            if let Ok(filter) = parse(&text) {
                let terms: usize = filter.groups.iter().map(Vec::len).sum();
                proptest::prop_assert!(terms <= MAX_FILTER_TERMS);
                proptest::prop_assert!(filter.groups.iter().all(|group| !group.is_empty()));
            }
        }

        #[test]
        fn generated_filters_round_trip_their_terms(
            terms in proptest::collection::vec(("[a-z_]{1,8}", 0usize..7, "[a-zA-Z0-9 ]{0,8}", proptest::bool::ANY), 1..MAX_FILTER_TERMS),
            joins in proptest::collection::vec(proptest::bool::ANY, MAX_FILTER_TERMS),
        ) {
            let operators = ["=", "!=", "<", "<=", ">", ">=", ":"];
            let mut text = String::new();
            for (index, (field, operator, value, negated)) in terms.iter().enumerate() {
                if index > 0 {
                    text.push_str(if joins[index] { " AND " } else { " OR " });
                }
                if *negated {
                    text.push_str("NOT ");
                }
                text.push_str(&format!("{field} {} \"{value}\"", operators[*operator]));
            }
            let filter = parse(&text);
            proptest::prop_assert!(filter.is_ok(), "{text}");
            let parsed: Vec<Comparison> = filter.map(|filter| filter.groups.concat()).unwrap_or_default();
            proptest::prop_assert_eq!(parsed.len(), terms.len());
            for (comparison, (field, _, value, negated)) in parsed.iter().zip(&terms) {
                proptest::prop_assert_eq!(&comparison.field, field);
                proptest::prop_assert_eq!(&comparison.value, value);
                proptest::prop_assert_eq!(comparison.negated, *negated);
            }
        }
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused() {
        let fields = [
            FilterField::new("depth", Expr::cust("depth"), FieldKind::Integer),
            FilterField::new("state", Expr::cust("state"), FieldKind::Enum(&["ACTIVE", "DRAFT"])),
        ];
        let convert = |text: &str| parse(text).and_then(|filter| filter.to_condition(&fields));
        assert!(convert("depth = 2 AND state = ACTIVE").is_ok());
        assert!(convert("color = red").is_err());
        assert!(convert("depth = two").is_err());
        assert!(convert("state = SLEEPING").is_err());
        assert!(convert("state < ACTIVE").is_err());
    }
}
