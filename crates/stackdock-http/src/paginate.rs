//! Cursor pagination as a stream.

use std::future::Future;

use futures::stream::{self, BoxStream, StreamExt};
use stackdock_core::{Error, Result};

/// One page of a listing: its items and the cursor of the next page (`None` on the last page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageOf<T, C> {
    /// Items of this page.
    pub items: Vec<T>,
    /// Cursor to fetch the next page with; `None` when this is the last page.
    pub next: Option<C>,
}

impl<T, C> PageOf<T, C> {
    /// A page followed by the page at `next` (if any).
    pub fn new(items: Vec<T>, next: Option<C>) -> Self {
        PageOf { items, next }
    }

    /// The last page.
    pub fn last(items: Vec<T>) -> Self {
        PageOf { items, next: None }
    }
}

/// Cursor pagination as a Stream that never truncates and errors on a non-advancing cursor.
///
/// `fetch(None)` loads the first page, `fetch(Some(cursor))` the following ones,
/// until a page has no `next`. Items are yielded in order as pages arrive. If a
/// page returns a cursor that was already requested (a provider bug that would
/// otherwise loop forever or silently repeat items), the stream yields an
/// [`ErrorKind::InvalidResponse`](stackdock_core::ErrorKind::InvalidResponse)
/// error and ends. A fetch error is yielded and ends the stream.
///
/// ```no_run
/// use futures::TryStreamExt;
/// use stackdock_http::{paginate, HttpClient, PageOf, Request};
///
/// #[derive(serde::Deserialize)]
/// struct Projects { projects: Vec<serde_json::Value>, pagination: Pagination }
/// #[derive(serde::Deserialize)]
/// struct Pagination { next: Option<u64> }
///
/// # async fn f(client: HttpClient) -> stackdock_core::Result<()> {
/// let all: Vec<serde_json::Value> = paginate(|cursor: Option<u64>| {
///     let client = client.clone();
///     async move {
///         let mut req = Request::get("/v9/projects").query("limit", "100");
///         if let Some(until) = cursor {
///             req = req.query("until", until.to_string());
///         }
///         let page: Projects = client.send_json(req).await?;
///         Ok(PageOf::new(page.projects, page.pagination.next))
///     }
/// })
/// .try_collect()
/// .await?;
/// # Ok(()) }
/// ```
pub fn paginate<'a, T, C, F, Fut>(fetch: F) -> BoxStream<'a, Result<T>>
where
    T: Send + 'a,
    C: PartialEq + Clone + Send + 'a,
    F: FnMut(Option<C>) -> Fut + Send + 'a,
    Fut: Future<Output = Result<PageOf<T, C>>> + Send + 'a,
{
    struct State<F, C> {
        fetch: F,
        next: Option<Option<C>>, // None = finished; Some(None) = first page
        requested: Vec<C>,
    }

    let state = State {
        fetch,
        next: Some(None),
        requested: Vec::<C>::new(),
    };
    let pages = stream::unfold(state, |mut state| async move {
        let cursor = state.next.take()?;
        if let Some(c) = &cursor {
            state.requested.push(c.clone());
        }
        let page = match (state.fetch)(cursor).await {
            Ok(page) => page,
            Err(e) => return Some((Err(e), state)),
        };
        match page.next {
            Some(next) if state.requested.contains(&next) => {
                let err = Error::invalid_response(format!(
                    "pagination cursor did not advance after {} page(s)",
                    state.requested.len() + 1
                ));
                Some((Err(err), state))
            }
            next => {
                state.next = next.map(Some);
                Some((Ok(page.items), state))
            }
        }
    });
    pages
        .flat_map(|page| match page {
            Ok(items) => stream::iter(items.into_iter().map(Ok)).left_stream(),
            Err(e) => stream::once(async move { Err(e) }).right_stream(),
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;
    use stackdock_core::ErrorKind;

    #[tokio::test]
    async fn walks_all_pages_in_order() {
        let pages = vec![vec![1, 2], vec![], vec![3], vec![4, 5]];
        let all: Vec<u32> = paginate(|cursor: Option<usize>| {
            let pages = pages.clone();
            async move {
                let i = cursor.unwrap_or(0);
                let next = (i + 1 < pages.len()).then_some(i + 1);
                Ok(PageOf::new(pages[i].clone(), next))
            }
        })
        .try_collect()
        .await
        .unwrap();
        assert_eq!(all, vec![1, 2, 3, 4, 5]);
    }

    #[tokio::test]
    async fn cycling_cursor_is_an_error() {
        // a -> b -> a: not the same cursor twice in a row, still a loop.
        let items: Vec<Result<u32>> = paginate(|cursor: Option<&'static str>| async move {
            Ok(match cursor {
                None => PageOf::new(vec![1], Some("a")),
                Some("a") => PageOf::new(vec![2], Some("b")),
                _ => PageOf::new(vec![3], Some("a")),
            })
        })
        .collect()
        .await;
        assert_eq!(items.len(), 3);
        assert_eq!(items[1].as_ref().unwrap(), &2);
        let err = items[2].as_ref().unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidResponse);
    }

    #[tokio::test]
    async fn fetch_error_ends_the_stream() {
        let items: Vec<Result<u32>> = paginate(|cursor: Option<u8>| async move {
            match cursor {
                None => Ok(PageOf::new(vec![1], Some(1))),
                Some(_) => Err(Error::new(ErrorKind::Unavailable)),
            }
        })
        .collect()
        .await;
        assert_eq!(items.len(), 2);
        assert!(items[1].is_err());
    }
}
