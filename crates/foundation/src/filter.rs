//! List filters (AIP-160), parsed by the `aip-160` crate and turned into
//! SQL conditions over the fields each list names.
//!
//! The grammar is AIP-160's: comparisons `field = value`, `!=`, `<`, `<=`,
//! `>`, `>=` and `:` (has: a substring for text, a member for lists);
//! `AND`, `OR`, `NOT` (or `-`) and parentheses; `OR` binds tighter than
//! `AND`, and terms side by side mean `AND`. A field path may traverse a
//! message (`escalation.stage`) where a list offers one. A quoted value
//! compared with `=` may start or end with `*` to match a prefix, a suffix
//! or a substring. A value may be a parenthesised group of values
//! (`state = (ACTIVE OR DRAFT)`). Bare values (free-text search) and
//! functions are refused with a clear message.
//!
//! A filter is client input, so it is bounded before anything else reads
//! it: at most [`MAX_FILTER_BYTES`] bytes, [`MAX_FILTER_DEPTH`] levels of
//! parentheses and [`MAX_FILTER_TERMS`] comparisons. The parser refuses
//! deeper nesting before it recurses, so no filter can exhaust a thread's
//! stack or hand the database an expression it refuses.

use aip_160::{Arg, Comparable, Comparator, Expression, FilterError, Member, StringMatch, Value};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, LikeExpr};

use crate::error::Error;

/// The longest filter accepted, in bytes.
pub const MAX_FILTER_BYTES: usize = 4_096;
/// The most comparisons a filter may hold.
pub const MAX_FILTER_TERMS: usize = 64;
/// The deepest nesting of parentheses accepted.
pub const MAX_FILTER_DEPTH: usize = 16;

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
    /// A repeated field stored by [`crate::members`]: `field:value` holds
    /// when `value` is one of its members, exactly.
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

fn invalid(description: impl Into<String>) -> Error {
    Error::invalid("filter", description)
}

/// A parsed filter; the default matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    expression: Option<Expression>,
}

/// Parses a filter; an empty text is the filter that matches everything.
pub fn parse(text: &str) -> Result<Filter, Error> {
    if text.len() > MAX_FILTER_BYTES {
        return Err(invalid(format!(
            "must be at most {MAX_FILTER_BYTES} bytes, got {}",
            text.len()
        )));
    }
    let filter = aip_160::parse_filter_with_max_depth(text, MAX_FILTER_DEPTH).map_err(|err| match err {
        FilterError::TooDeep { limit } => invalid(format!("must nest at most {limit} levels of parentheses")),
        other => invalid(other.to_string()),
    })?;
    if let Some(expression) = &filter.expression {
        let terms = count_terms(expression);
        if terms > MAX_FILTER_TERMS {
            return Err(invalid(format!(
                "must hold at most {MAX_FILTER_TERMS} comparisons, got {terms}"
            )));
        }
    }
    Ok(Filter {
        expression: filter.expression,
    })
}

/// Comparisons, counting each value of a parenthesised group of values.
fn count_terms(expression: &Expression) -> usize {
    match expression {
        Expression::And(children) | Expression::Sequence(children) | Expression::Or(children) => {
            children.iter().map(count_terms).sum()
        }
        Expression::Not(inner) => count_terms(inner),
        Expression::Restriction(restriction) => match &restriction.arg {
            Arg::Composite(values) => count_terms(values),
            Arg::Comparable(_) => 1,
        },
        Expression::Global(_) => 1,
    }
}

impl Filter {
    /// The SQL condition over `fields`; an unknown field or a value of the
    /// wrong kind is an `INVALID_ARGUMENT` naming it.
    pub fn to_condition(&self, fields: &[FilterField]) -> Result<Condition, Error> {
        match &self.expression {
            None => Ok(Condition::all()),
            Some(expression) => condition(expression, fields),
        }
    }

    /// A stable text of the filter, to bind page tokens to it: the parsed
    /// form, so spacing and quoting do not matter.
    pub fn fingerprint(&self) -> String {
        format!("{:?}", self.expression)
    }
}

fn condition(expression: &Expression, fields: &[FilterField]) -> Result<Condition, Error> {
    Ok(match expression {
        Expression::And(children) | Expression::Sequence(children) => {
            children.iter().try_fold(Condition::all(), |all, child| {
                Ok::<_, Error>(all.add(condition(child, fields)?))
            })?
        }
        Expression::Or(children) => children.iter().try_fold(Condition::any(), |any, child| {
            Ok::<_, Error>(any.add(condition(child, fields)?))
        })?,
        Expression::Not(inner) => condition(inner, fields)?.not(),
        Expression::Restriction(restriction) => {
            let field = field_of(&restriction.comparable, fields)?;
            match &restriction.arg {
                Arg::Comparable(Comparable::Member(member)) => {
                    Condition::all().add(comparison(field, restriction.comparator, &value_of(member))?)
                }
                Arg::Comparable(Comparable::Function(function)) => {
                    return Err(invalid(format!(
                        "functions are not supported ({}); compare {} with a value",
                        function.name.join("."),
                        field.name
                    )));
                }
                Arg::Composite(values) => group_of_values(field, restriction.comparator, values)?,
            }
        }
        Expression::Global(Comparable::Function(function)) => {
            return Err(invalid(format!(
                "functions are not supported ({}); write field = value",
                function.name.join(".")
            )));
        }
        Expression::Global(comparable) => {
            return Err(invalid(format!(
                "{comparable} names no field: free-text search is not supported; write field = value"
            )));
        }
    })
}

/// `field op (a OR b)`: the comparison with each value, combined as the
/// group says.
fn group_of_values(field: &FilterField, comparator: Comparator, values: &Expression) -> Result<Condition, Error> {
    Ok(match values {
        Expression::And(children) | Expression::Sequence(children) => {
            children.iter().try_fold(Condition::all(), |all, child| {
                Ok::<_, Error>(all.add(group_of_values(field, comparator, child)?))
            })?
        }
        Expression::Or(children) => children.iter().try_fold(Condition::any(), |any, child| {
            Ok::<_, Error>(any.add(group_of_values(field, comparator, child)?))
        })?,
        Expression::Not(inner) => group_of_values(field, comparator, inner)?.not(),
        Expression::Global(Comparable::Member(member)) => {
            Condition::all().add(comparison(field, comparator, &value_of(member))?)
        }
        Expression::Global(Comparable::Function(_)) | Expression::Restriction(_) => {
            return Err(invalid(format!(
                "the group compared with {} must hold values only",
                field.name
            )));
        }
    })
}

fn field_of<'a>(comparable: &Comparable, fields: &'a [FilterField]) -> Result<&'a FilterField, Error> {
    let Some(path) = comparable.field_path() else {
        return Err(invalid(format!(
            "{comparable} is not a field: a field is an unquoted name, as in state = ACTIVE"
        )));
    };
    fields.iter().find(|field| field.name == path).ok_or_else(|| {
        let known: Vec<&str> = fields.iter().map(|field| field.name).collect();
        invalid(format!(
            "unknown field {path:?}; filterable fields are {}",
            known.join(", ")
        ))
    })
}

/// An argument as the client wrote it: the parser splits unquoted text at
/// dots (`a.b` is a member with a field), which a value puts back.
fn value_of(member: &Member) -> Value {
    if member.is_simple() {
        return member.value.clone();
    }
    Value::Text(member.to_string())
}

fn comparison(field: &FilterField, comparator: Comparator, value: &Value) -> Result<Expr, Error> {
    let column = field.column.clone();
    let text = value.as_str();
    Ok(match field.kind {
        FieldKind::Integer => {
            let number: i64 = text
                .parse()
                .map_err(|_| invalid(format!("{} takes an integer, got {text:?}", field.name)))?;
            ordered(column, comparator, number, field.name)?
        }
        FieldKind::Enum(names) => {
            if !names.contains(&text) {
                return Err(invalid(format!(
                    "{} is one of {}, got {text:?}",
                    field.name,
                    names.join(", "),
                )));
            }
            match comparator {
                Comparator::Equal | Comparator::Has => column.eq(text),
                Comparator::NotEqual => column.ne(text),
                _ => return Err(invalid(format!("{} supports only =, != and :", field.name))),
            }
        }
        FieldKind::ResourceName(collection) => {
            let id = if text.is_empty() {
                ""
            } else {
                // Period ids ("2027-q1") are accepted for any collection: a
                // name no resource has simply matches nothing.
                text.strip_prefix(collection)
                    .and_then(|rest| rest.strip_prefix('/'))
                    .filter(|id| crate::names::is_valid_period_id(id))
                    .ok_or_else(|| invalid(format!("{} takes a {collection}/{{id}} name", field.name)))?
            };
            match comparator {
                Comparator::Equal => column.eq(id),
                Comparator::NotEqual => column.ne(id),
                _ => return Err(invalid(format!("{} supports only = and !=", field.name))),
            }
        }
        FieldKind::Members => match comparator {
            Comparator::Has if !text.contains('|') && !text.is_empty() => {
                column.like(contains_pattern(&crate::members::pattern(text)))
            }
            Comparator::Has => return Err(invalid(format!("{} takes one non-empty value without '|'", field.name))),
            _ => {
                return Err(invalid(format!(
                    "{} is a list: use {}:\"value\"",
                    field.name, field.name
                )));
            }
        },
        FieldKind::Text => match (comparator, value.string_match()) {
            (Comparator::Has, _) => column.like(contains_pattern(text)),
            (Comparator::Equal | Comparator::NotEqual, Some(pattern)) if !matches!(pattern, StringMatch::Exact(_)) => {
                let matches = column.like(wildcard_pattern(pattern));
                if comparator == Comparator::Equal {
                    matches
                } else {
                    matches.not()
                }
            }
            (Comparator::Equal | Comparator::NotEqual, Some(StringMatch::Exact(exact))) => {
                ordered(column, comparator, exact.to_owned(), field.name)?
            }
            _ => ordered(column, comparator, text.to_owned(), field.name)?,
        },
    })
}

fn ordered<V: Into<sea_orm::Value>>(
    column: Expr,
    comparator: Comparator,
    value: V,
    field: &str,
) -> Result<Expr, Error> {
    Ok(match comparator {
        Comparator::Equal => column.eq(value.into()),
        Comparator::NotEqual => column.ne(value.into()),
        Comparator::LessThan => column.lt(value.into()),
        Comparator::LessThanOrEqual => column.lte(value.into()),
        Comparator::GreaterThan => column.gt(value.into()),
        Comparator::GreaterThanOrEqual => column.gte(value.into()),
        Comparator::Has => return Err(invalid(format!("{field} does not support ':'"))),
    })
}

/// A LIKE pattern matching `value` anywhere, its wildcards taken literally.
fn contains_pattern(value: &str) -> LikeExpr {
    wildcard_pattern(StringMatch::Contains(value))
}

/// A LIKE pattern for an AIP-160 wildcard match, `%` and `_` in the text
/// taken literally.
fn wildcard_pattern(pattern: StringMatch<'_>) -> LikeExpr {
    let (leading, core, trailing) = match pattern {
        StringMatch::Exact(core) => (false, core, false),
        StringMatch::Prefix(core) => (false, core, true),
        StringMatch::Suffix(core) => (true, core, false),
        StringMatch::Contains(core) => (true, core, true),
    };
    let mut escaped = String::with_capacity(core.len() + 2);
    if leading {
        escaped.push('%');
    }
    for c in core.chars() {
        if matches!(c, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    if trailing {
        escaped.push('%');
    }
    LikeExpr::new(escaped).escape('\\')
}

#[cfg(test)]
mod tests {
    use sea_orm::{
        DbBackend,
        sea_query::{Alias, Query},
    };

    use super::*;

    fn column(name: &'static str) -> Expr {
        Expr::col(Alias::new(name))
    }

    fn fields() -> Vec<FilterField> {
        vec![
            FilterField::new("depth", column("depth"), FieldKind::Integer),
            FilterField::new("state", column("state"), FieldKind::Enum(&["ACTIVE", "DRAFT"])),
            FilterField::new("owner", column("owner_id"), FieldKind::ResourceName("orgUnits")),
            FilterField::new("display_name", column("display_name"), FieldKind::Text),
            FilterField::new("guardrails", column("guardrails"), FieldKind::Members),
            FilterField::new(
                "escalation.stage",
                column("stage"),
                FieldKind::Enum(&["CLEAR", "BROKEN"]),
            ),
        ]
    }

    /// The WHERE clause a filter becomes, as SQLite text.
    fn sql(text: &str) -> Result<String, Error> {
        let condition = parse(text)?.to_condition(&fields())?;
        let statement = Query::select().expr(Expr::cust("1")).cond_where(condition).to_owned();
        let sql = DbBackend::Sqlite.build(&statement).to_string();
        let clause = sql.split_once(" WHERE ").map_or("", |(_, clause)| clause);
        Ok(clause.replace('"', ""))
    }

    fn refused(text: &str) -> String {
        match parse(text).and_then(|filter| filter.to_condition(&fields())) {
            Ok(condition) => format!("not refused: {condition:?}"),
            Err(err) => format!("{err:?}"),
        }
    }

    #[test]
    fn or_binds_tighter_than_and_and_parentheses_regroup() -> Result<(), Error> {
        assert_eq!(
            sql("state = ACTIVE OR state = DRAFT AND depth = 2")?,
            "(state = 'ACTIVE' OR state = 'DRAFT') AND depth = 2"
        );
        assert_eq!(
            sql("state = ACTIVE OR (state = DRAFT AND depth = 2)")?,
            "state = 'ACTIVE' OR (state = 'DRAFT' AND depth = 2)"
        );
        assert_eq!(
            sql("depth = 1 depth = 2")?,
            "depth = 1 AND depth = 2",
            "terms side by side mean AND"
        );
        Ok(())
    }

    #[test]
    fn not_negates_a_term_or_a_group() -> Result<(), Error> {
        assert_eq!(sql("NOT state = ACTIVE")?, "NOT state = 'ACTIVE'");
        assert_eq!(sql("-state = ACTIVE")?, "NOT state = 'ACTIVE'");
        assert_eq!(
            sql("NOT (state = ACTIVE OR depth > 3)")?,
            "NOT (state = 'ACTIVE' OR depth > 3)"
        );
        Ok(())
    }

    #[test]
    fn traversal_values_groups_and_wildcards() -> Result<(), Error> {
        assert_eq!(sql("escalation.stage = BROKEN")?, "stage = 'BROKEN'");
        assert_eq!(sql("state = (ACTIVE OR DRAFT)")?, "state = 'ACTIVE' OR state = 'DRAFT'");
        assert_eq!(
            sql(r#"display_name = "Grow*""#)?,
            "display_name LIKE 'Grow%' ESCAPE '\\'"
        );
        assert_eq!(
            sql(r#"display_name != "*50%""#)?,
            "NOT display_name LIKE '%50\\%' ESCAPE '\\'"
        );
        assert_eq!(sql(r#"display_name = "Growth""#)?, "display_name = 'Growth'");
        assert_eq!(sql("display_name:row")?, "display_name LIKE '%row%' ESCAPE '\\'");
        assert_eq!(
            sql(r#"guardrails:"healthMetrics/csat""#)?,
            "guardrails LIKE '%|healthMetrics/csat|%' ESCAPE '\\'"
        );
        assert_eq!(sql(r#"owner = orgUnits/acme"#)?, "owner_id = 'acme'");
        assert_eq!(
            sql("display_name = v1.2")?,
            "display_name = 'v1.2'",
            "a dotted value is a value"
        );
        assert_eq!(sql("")?, "TRUE", "empty matches everything");
        Ok(())
    }

    #[test]
    fn malformed_filters_are_refused() {
        for text in [
            "state =",
            "(state = ACTIVE",
            "state = ACTIVE)",
            "a = b AND",
            "a = \"open",
            "a ! b",
            "AND",
        ] {
            assert!(parse(text).is_err(), "{text} should not parse");
        }
        assert!(refused("ACTIVE").contains("free-text"), "{}", refused("ACTIVE"));
        assert!(refused("color = red").contains("unknown field"));
        assert!(refused("depth = two").contains("integer"));
        assert!(refused("state = SLEEPING").contains("one of"));
        assert!(refused("state < ACTIVE").contains("supports only"));
        assert!(refused("state = (ACTIVE OR depth = 2)").contains("values only"));
        assert!(refused("regex(display_name, \"a\")").contains("functions"));
        assert!(refused("depth = max(2)").contains("functions"));
        assert!(refused("guardrails = x").contains("is a list"));
    }

    #[test]
    fn long_deep_and_many_termed_filters_are_refused() {
        let terms = |count: usize| vec!["depth = 1"; count].join(" OR ");
        assert!(parse(&terms(MAX_FILTER_TERMS)).is_ok());
        assert!(
            refused(&terms(MAX_FILTER_TERMS + 1)).contains("comparisons"),
            "{}",
            refused(&terms(MAX_FILTER_TERMS + 1))
        );
        assert!(parse(&terms(15_000)).is_err());
        assert!(parse(&"x".repeat(MAX_FILTER_BYTES + 1)).is_err());
        let nested = |depth: usize| format!("{}depth = 1{}", "(".repeat(depth), ")".repeat(depth));
        assert!(parse(&nested(MAX_FILTER_DEPTH)).is_ok());
        assert!(refused(&nested(MAX_FILTER_DEPTH + 1)).contains("levels"));
        // A megabyte, or a hundred thousand parentheses, is refused by its
        // size before anything reads it.
        assert!(parse(&"(".repeat(100_000)).is_err());
        assert!(parse(&"a".repeat(1 << 20)).is_err());
        // Within the size limit, the parser stops at the depth limit
        // before recursing further.
        assert!(refused(&"(".repeat(MAX_FILTER_BYTES)).contains("levels"));
        assert!(refused(&"NOT (".repeat(MAX_FILTER_BYTES / 5)).contains("levels"));
    }

    #[test]
    fn fingerprints_ignore_spacing_but_not_meaning() -> Result<(), Error> {
        assert_eq!(
            parse("state=ACTIVE")?.fingerprint(),
            parse("state = ACTIVE")?.fingerprint()
        );
        assert_ne!(
            parse("state = ACTIVE")?.fingerprint(),
            parse("state = DRAFT")?.fingerprint()
        );
        Ok(())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Any text parses or is refused, and what parses converts or is
        /// refused: never a panic, and never more terms than allowed.
        #[test]
        fn any_text_is_parsed_or_refused(text in "[a-z.=!<>:()\"'*ANDORT \\-]{0,400}") {
            if let Ok(filter) = parse(&text) {
                if let Some(expression) = &filter.expression {
                    proptest::prop_assert!(count_terms(expression) <= MAX_FILTER_TERMS);
                }
                let _ = filter.to_condition(&fields());
            }
        }

        #[test]
        fn generated_filters_convert(
            terms in proptest::collection::vec((0usize..3, 0usize..4, proptest::bool::ANY), 1..MAX_FILTER_TERMS),
            joins in proptest::collection::vec(0usize..3, MAX_FILTER_TERMS),
        ) {
            let comparisons = ["depth >= 2", "state = ACTIVE", "display_name:\"a b\""];
            let mut text = String::new();
            for (index, (comparison, _, negated)) in terms.iter().enumerate() {
                if index > 0 {
                    text.push_str([" AND ", " OR ", " "][joins[index]]);
                }
                if *negated {
                    text.push_str("NOT ");
                }
                text.push_str(comparisons[*comparison]);
            }
            let converted = parse(&text).and_then(|filter| filter.to_condition(&fields()));
            proptest::prop_assert!(converted.is_ok(), "{text}: {converted:?}");
        }
    }
}
