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
    /// A two-valued enum stored as a boolean column: the first name is
    /// true (`visibility = PRIVATE` over a `private` column).
    Flag(&'static str, &'static str),
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
        FieldKind::Flag(yes, no) => {
            let flag = match text {
                _ if text == yes => true,
                _ if text == no => false,
                _ => return Err(invalid(format!("{} is {yes} or {no}, got {text:?}", field.name))),
            };
            match comparator {
                Comparator::Equal | Comparator::Has => column.eq(flag),
                Comparator::NotEqual => column.ne(flag),
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
mod tests;
