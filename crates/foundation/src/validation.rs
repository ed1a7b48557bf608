//! Collects every field violation of a request, so one `INVALID_ARGUMENT`
//! reports all of them rather than the first.

use crate::error::Error;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldViolations {
    violations: Vec<(String, String)>,
}

impl FieldViolations {
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.violations.push((field.into(), description.into()));
    }

    /// Adds the violation when `ok` is false.
    pub fn require(&mut self, ok: bool, field: impl Into<String>, description: impl Into<String>) {
        if !ok {
            self.add(field, description);
        }
    }

    pub fn require_non_empty(&mut self, value: &str, field: &str) {
        self.require(!value.trim().is_empty(), field, "is required");
    }

    pub fn require_max_len(&mut self, value: &str, max_chars: usize, field: &str) {
        let chars = value.chars().count();
        self.require(
            chars <= max_chars,
            field,
            format!("must be at most {max_chars} characters, got {chars}"),
        );
    }

    /// Takes another set, each field path prefixed (`rows[3].` + field).
    pub fn extend_prefixed(&mut self, prefix: &str, other: FieldViolations) {
        for (field, description) in other.violations {
            self.violations.push((format!("{prefix}{field}"), description));
        }
    }

    /// The value of a check that may fail `INVALID_ARGUMENT`: its
    /// violations join these (and `None` comes back), so one answer still
    /// reports every problem. Other errors pass through.
    pub fn absorb<T>(&mut self, result: Result<T, Error>) -> Result<Option<T>, Error> {
        match result {
            Ok(value) => Ok(Some(value)),
            Err(Error::InvalidArgument(problems)) => {
                self.violations.extend(problems.violations);
                Ok(None)
            }
            Err(err) => Err(err),
        }
    }

    pub fn violations(&self) -> &[(String, String)] {
        &self.violations
    }

    pub fn len(&self) -> usize {
        self.violations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.violations.is_empty()
    }

    /// `Ok` when nothing was collected, else `Error::InvalidArgument`.
    pub fn into_result(self) -> Result<(), Error> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidArgument(self))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_every_violation_with_prefixes() {
        let mut row = FieldViolations::default();
        row.require_non_empty("", "display_name");
        row.require_max_len("abcdef", 3, "kind");
        let mut all = FieldViolations::default();
        all.extend_prefixed("requests[2].", row);
        assert_eq!(all.len(), 2);
        assert_eq!(all.violations()[0].0, "requests[2].display_name");
        assert_eq!(all.violations()[1].1, "must be at most 3 characters, got 6");
        assert!(all.into_result().is_err());
        assert!(FieldViolations::default().into_result().is_ok());
    }
}
