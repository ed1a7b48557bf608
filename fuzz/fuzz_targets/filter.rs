//! Any text a client sends as a list filter is parsed and turned into a
//! condition, or refused: never a panic, never a stack overflow.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sea_orm::{
    DbBackend,
    sea_query::{Alias, Expr, Query},
};
use trellis_foundation::filter::{self, FieldKind, FilterField};

fuzz_target!(|text: &str| {
    let column = |name: &'static str| Expr::col(Alias::new(name));
    let fields = [
        FilterField::new("depth", column("depth"), FieldKind::Integer),
        FilterField::new("state", column("state"), FieldKind::Enum(&["ACTIVE", "DRAFT"])),
        FilterField::new("owner", column("owner_id"), FieldKind::ResourceName("orgUnits")),
        FilterField::new("display_name", column("display_name"), FieldKind::Text),
        FilterField::new("guardrails", column("guardrails"), FieldKind::Members),
        FilterField::new("escalation.stage", column("stage"), FieldKind::Enum(&["CLEAR"])),
    ];
    if let Ok(condition) = filter::parse(text).and_then(|filter| filter.to_condition(&fields)) {
        let statement = Query::select().expr(Expr::cust("1")).cond_where(condition).to_owned();
        let _ = DbBackend::Sqlite.build(&statement).to_string();
        let _ = DbBackend::Postgres.build(&statement).to_string();
    }
});
