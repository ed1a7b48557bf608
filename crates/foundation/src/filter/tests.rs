//! The filter grammar, its limits and the SQL it becomes.

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
