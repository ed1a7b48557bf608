//! AIP-154 etags. A resource's etag is derived from its version, which every
//! write increments; a write that names an older etag is refused (`ABORTED`).

use crate::error::Error;

pub fn etag_for(version: i64) -> String {
    format!("\"{version}\"")
}

/// An empty `given` etag means the client does not ask for a check.
pub fn check_etag(given: &str, current: &str, resource: &str) -> Result<(), Error> {
    if given.is_empty() || given == current {
        return Ok(());
    }
    Err(Error::StaleEtag {
        resource: resource.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_or_current_etag_passes_and_stale_fails() {
        let current = etag_for(3);
        assert!(check_etag("", &current, "x").is_ok());
        assert!(check_etag(&etag_for(3), &current, "x").is_ok());
        assert!(matches!(
            check_etag(&etag_for(2), &current, "x"),
            Err(Error::StaleEtag { .. })
        ));
        assert!(check_etag("garbage", &current, "x").is_err());
    }
}
