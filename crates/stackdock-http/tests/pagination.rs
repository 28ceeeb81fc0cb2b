//! Pagination over a wiremock API with `until`-style cursors (Vercel's shape).

mod common;

use common::*;
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::json;
use stackdock_core::{ErrorKind, Result};
use stackdock_http::{paginate, HttpClient, PageOf, Request};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[derive(Deserialize)]
struct ProjectPage {
    projects: Vec<Project>,
    pagination: Pagination,
}

#[derive(Deserialize)]
struct Project {
    id: String,
}

#[derive(Deserialize)]
struct Pagination {
    next: Option<u64>,
}

fn list_projects(client: &HttpClient) -> futures::stream::BoxStream<'static, Result<String>> {
    let client = client.clone();
    paginate(move |cursor: Option<u64>| {
        let client = client.clone();
        async move {
            let mut req = Request::get("/v9/projects").query("limit", "2");
            if let Some(until) = cursor {
                req = req.query("until", until.to_string());
            }
            let page: ProjectPage = client.send_json(req.operation("list web services")).await?;
            Ok(PageOf::new(
                page.projects.into_iter().map(|p| p.id).collect(),
                page.pagination.next,
            ))
        }
    })
}

async fn page(server: &MockServer, until: Option<&str>, ids: &[&str], next: Option<u64>) {
    let projects: Vec<_> = ids.iter().map(|id| json!({"id": id})).collect();
    let mock = Mock::given(method("GET")).and(path("/v9/projects"));
    let mock = match until {
        Some(u) => mock.and(query_param("until", u)),
        None => mock.and(query_param_is_missing("until")),
    };
    mock.respond_with(ResponseTemplate::new(200).set_body_json(
        json!({"projects": projects, "pagination": {"count": ids.len(), "next": next}}),
    ))
    .mount(server)
    .await;
}

#[tokio::test]
async fn walks_every_page() {
    let server = MockServer::start().await;
    page(&server, None, &["p1", "p2"], Some(300)).await;
    page(&server, Some("300"), &["p3", "p4"], Some(200)).await;
    page(&server, Some("200"), &["p5"], None).await;
    let (client, _) = client(&server);

    let ids: Vec<String> = list_projects(&client).try_collect().await.unwrap();

    assert_eq!(ids, ["p1", "p2", "p3", "p4", "p5"]);
    assert_eq!(request_count(&server).await, 3);
}

#[tokio::test]
async fn non_advancing_cursor_is_an_error_not_a_loop() {
    let server = MockServer::start().await;
    page(&server, None, &["p1", "p2"], Some(300)).await;
    page(&server, Some("300"), &["p3", "p4"], Some(300)).await;
    let (client, _) = client(&server);

    let items: Vec<Result<String>> = list_projects(&client).collect().await;

    let (ok, err): (Vec<_>, Vec<_>) = items.into_iter().partition(Result::is_ok);
    assert_eq!(ok.len(), 2, "items before the broken page are delivered");
    assert_eq!(err.len(), 1);
    assert_eq!(
        err[0].as_ref().unwrap_err().kind(),
        &ErrorKind::InvalidResponse
    );
    assert_eq!(request_count(&server).await, 2);
}

#[tokio::test]
async fn a_failing_page_ends_the_stream_with_its_error() {
    let server = MockServer::start().await;
    page(&server, None, &["p1"], Some(300)).await;
    Mock::given(query_param("until", "300"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({"error": {"message": "Not authorized"}})),
        )
        .mount(&server)
        .await;
    let (client, _) = client(&server);

    let err = list_projects(&client)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();

    assert_eq!(err.kind(), &ErrorKind::PermissionDenied);
    assert_eq!(err.operation(), Some("list web services"));
}
