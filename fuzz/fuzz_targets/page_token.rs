//! Any page token a client sends is opened or refused: never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use trellis_foundation::paging::PageTokens;

fuzz_target!(|token: &str| {
    let tokens = PageTokens::new(b"a fuzzing key of thirty-two byte");
    let _ = tokens.decode::<String>(token, "ListOrgUnits", "");
    let _ = tokens.decode::<(i64, String)>(token, "ListObjectives", "query");
});
