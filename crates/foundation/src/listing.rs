//! A filtered list read in id order (AIP-132 with AIP-158 pages and AIP-160
//! filters): the request's filter parsed and checked against the list's
//! fields, its page token opened for that method and filter, the rows
//! after it fetched, and the next token sealed. Every service's `List…`
//! over a table is this, so it is written once.

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select, sea_query::Condition,
};

use crate::{
    error::Error,
    filter::{self, FilterField},
    paging::{PageTokens, page_size, split_page},
};

/// One page of a list, between reading the request and answering it.
#[derive(Debug)]
pub struct FilteredPage<'a> {
    tokens: &'a PageTokens,
    method: &'static str,
    /// The filter in parsed form, which the page token is bound to.
    query: String,
    size: u64,
    condition: Condition,
    after: Option<String>,
}

impl<'a> FilteredPage<'a> {
    /// Checks `filter` against `fields`, the page size and the token (it
    /// must have been issued by `method` for the same filter).
    pub fn open(
        tokens: &'a PageTokens,
        method: &'static str,
        filter: &str,
        requested_size: i32,
        page_token: &str,
        fields: &[FilterField],
    ) -> Result<FilteredPage<'a>, Error> {
        let size = page_size(requested_size)?;
        let filter = filter::parse(filter)?;
        let query = filter.fingerprint();
        let after = tokens.decode(page_token, method, &query)?;
        Ok(FilteredPage {
            tokens,
            method,
            condition: filter.to_condition(fields)?,
            query,
            size,
            after,
        })
    }

    /// The rows of this page (and one more, to know whether another page
    /// follows), ordered by `id`, the string key the token holds.
    pub async fn fetch<E: EntityTrait>(
        &self,
        select: Select<E>,
        id: E::Column,
        conn: &impl ConnectionTrait,
    ) -> Result<Vec<E::Model>, Error> {
        let mut select = select.filter(self.condition.clone());
        if let Some(after) = &self.after {
            select = select.filter(id.gt(after.clone()));
        }
        Ok(select.order_by_asc(id).limit(self.size + 1).all(conn).await?)
    }

    /// The page's rows and the token of the next page ("" after the last).
    pub fn split<T>(&self, rows: Vec<T>, id: impl Fn(&T) -> String) -> (Vec<T>, String) {
        let (page, next) = split_page(rows, self.size, id);
        let token = next
            .map(|id| self.tokens.encode(self.method, &self.query, &id))
            .unwrap_or_default();
        (page, token)
    }
}
