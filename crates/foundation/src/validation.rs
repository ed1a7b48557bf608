//! Collects every field violation of a request, so one `INVALID_ARGUMENT`
//! reports all of them rather than the first.

use trellis_proto::common::v1::{ValidationPage, ValidationReport, Violation};

use crate::{error::Error, paging::PageTokens};

/// Problems per page of a validation report, by default and at most.
const DEFAULT_REPORT_PAGE: usize = 1_000;
const MAX_REPORT_PAGE: usize = 10_000;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldViolations {
    violations: Vec<(String, String)>,
}

/// A message field a request must carry (`field` names it): proto3 cannot
/// make it required, so every create and update starts here.
pub fn required<T>(value: Option<T>, field: &str) -> Result<T, Error> {
    value.ok_or_else(|| Error::invalid(field, "is required"))
}

/// An error that may be field violations (an `INVALID_ARGUMENT`), so a
/// check that returns it can be absorbed into a larger set.
pub trait MayBeViolations: Sized {
    /// The violations, or the error itself when it is something else.
    fn into_violations(self) -> Result<FieldViolations, Self>;
}

impl MayBeViolations for Error {
    fn into_violations(self) -> Result<FieldViolations, Error> {
        match self {
            Error::InvalidArgument(violations) => Ok(violations),
            other => Err(other),
        }
    }
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
    pub fn absorb<T, E: MayBeViolations>(&mut self, result: Result<T, E>) -> Result<Option<T>, E> {
        match result {
            Ok(value) => Ok(Some(value)),
            Err(err) => match err.into_violations() {
                Ok(problems) => {
                    self.violations.extend(problems.violations);
                    Ok(None)
                }
                Err(err) => Err(err),
            },
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

    /// One page of these violations as a validate_only answer (AIP-163):
    /// in the response body, where their number is not limited by what a
    /// client accepts in trailers. Tokens are bound to `method`.
    pub fn into_report(
        self,
        page: Option<&ValidationPage>,
        tokens: &PageTokens,
        method: &str,
    ) -> Result<ValidationReport, Error> {
        let (page_size, page_token) = match page {
            Some(page) => (page.page_size, page.page_token.as_str()),
            None => (0, ""),
        };
        let page_size = match usize::try_from(page_size) {
            Err(_) => return Err(Error::invalid("validation_page.page_size", "must not be negative")),
            Ok(0) => DEFAULT_REPORT_PAGE,
            Ok(size) => size.min(MAX_REPORT_PAGE),
        };
        let start: usize = tokens.decode(page_token, method, "validation report")?.unwrap_or(0);
        let total = self.violations.len();
        let end = total.min(start.saturating_add(page_size));
        let violations = self
            .violations
            .into_iter()
            .skip(start)
            .take(end.saturating_sub(start))
            .map(|(field, description)| Violation { field, description })
            .collect();
        Ok(ValidationReport {
            violations,
            total_violations: i32::try_from(total).unwrap_or(i32::MAX),
            next_page_token: if end < total {
                tokens.encode(method, "validation report", &end)
            } else {
                String::new()
            },
        })
    }

    /// `Ok` when nothing was collected, else `Error::InvalidArgument`.
    pub fn into_result(self) -> Result<(), Error> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidArgument(self))
        }
    }

    /// `value` when nothing was collected, else these violations: how a
    /// command's `TryFrom` ends.
    pub fn into_checked<T>(self, value: T) -> Result<T, FieldViolations> {
        if self.is_empty() { Ok(value) } else { Err(self) }
    }

    /// A command parsed from a request, with the violations of its
    /// references collected here since: one answer with every problem,
    /// the command's own (shape) first.
    pub fn along_with<T>(self, command: Result<T, FieldViolations>) -> Result<T, Error> {
        match command {
            Ok(command) if self.is_empty() => Ok(command),
            Ok(_) => Err(Error::InvalidArgument(self)),
            Err(mut shape) => {
                shape.violations.extend(self.violations);
                Err(Error::InvalidArgument(shape))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_and_its_references_answer_together_shape_first() {
        let mut shape = FieldViolations::default();
        shape.add("title", "is required");
        let mut references = FieldViolations::default();
        references.add("owner", "does not exist");
        let Err(Error::InvalidArgument(all)) = references.clone().along_with(Err::<(), _>(shape)) else {
            panic!("expected INVALID_ARGUMENT");
        };
        let fields: Vec<&str> = all.violations().iter().map(|(field, _)| field.as_str()).collect();
        assert_eq!(fields, ["title", "owner"]);
        assert!(matches!(references.along_with(Ok(())), Err(Error::InvalidArgument(_))));
        assert!(matches!(FieldViolations::default().along_with(Ok(7)), Ok(7)));
    }

    #[test]
    fn reports_page_through_every_violation_once() -> Result<(), Error> {
        let tokens = PageTokens::new(b"key");
        let mut all = FieldViolations::default();
        for row in 0..2_500 {
            all.add(format!("rows[{row}].title"), "is required");
        }
        let mut seen = Vec::new();
        let mut page = ValidationPage::default();
        loop {
            let report = all.clone().into_report(Some(&page), &tokens, "Import")?;
            assert_eq!(report.total_violations, 2_500);
            seen.extend(report.violations.into_iter().map(|violation| violation.field));
            if report.next_page_token.is_empty() {
                break;
            }
            page.page_token = report.next_page_token;
        }
        assert_eq!(seen.len(), 2_500);
        assert_eq!(seen[2_499], "rows[2499].title");
        let token = all.clone().into_report(None, &tokens, "Import")?.next_page_token;
        let foreign = ValidationPage {
            page_token: token,
            ..ValidationPage::default()
        };
        assert!(all.into_report(Some(&foreign), &tokens, "Batch").is_err());
        Ok(())
    }

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
