//! A list of names stored in one text column as `|a|b|` (empty when the
//! list is), so "is `x` a member" is a `LIKE '%|x|%'` that cannot match a
//! longer name: how list fields such as an objective's guardrails are kept
//! filterable (`guardrails:"healthMetrics/csat"`).

/// The column for `members`; names must not contain `|`.
pub fn encode(members: &[String]) -> String {
    if members.is_empty() {
        return String::new();
    }
    format!("|{}|", members.join("|"))
}

/// The names a column holds.
pub fn decode(column: &str) -> Vec<String> {
    column
        .split('|')
        .filter(|member| !member.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The text a column holds when `member` is in it.
pub fn pattern(member: &str) -> String {
    format!("|{member}|")
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn lists_round_trip(members in proptest::collection::vec("[a-z/0-9-]{1,12}", 0..8)) {
            let column = encode(&members);
            proptest::prop_assert_eq!(decode(&column), members.clone());
            for member in &members {
                proptest::prop_assert!(column.contains(&pattern(member)));
            }
        }
    }
}
