//! Vercel's wire shapes: what its responses hold and what request bodies send.
//!
//! Responses are read as `serde_json::Value` first (it becomes the resource's
//! `provider_data`, minus secrets) and then viewed through these structs,
//! which only name the fields StackDock maps. Request bodies are exactly what
//! goes on the wire (their snapshots are in `tests/snapshots/`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use stackdock_core::{Error, Result};

/// A field Vercel sends as a number in some shapes and as a string in
/// others (`pagination.next`, a link's `repoId`), kept as it came so it goes
/// back on the wire unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub(crate) enum NumberOrText {
    Number(i64),
    Text(String),
}

/// `pagination.next`: a millisecond timestamp, or (projects list) a
/// continuation token string.
pub(crate) type Cursor = NumberOrText;

impl NumberOrText {
    /// The value to send back as `until` / `from`.
    pub(crate) fn to_query(&self) -> String {
        match self {
            NumberOrText::Number(n) => n.to_string(),
            NumberOrText::Text(s) => s.clone(),
        }
    }
}

/// Split a list response `{ <key>: [...], pagination: {next, ...} }` into its
/// items and the cursor of the next page. `None` when the body is not a list
/// of that shape.
pub(crate) fn split_page(body: Value, key: &str) -> Option<(Vec<Value>, Option<Cursor>)> {
    let Value::Object(mut map) = body else {
        return None;
    };
    let items = match map.remove(key) {
        Some(Value::Array(items)) => items,
        _ => return None,
    };
    let next = match map.get("pagination").and_then(|p| p.get("next")) {
        None | Some(Value::Null) => None,
        Some(v) => Some(Cursor::deserialize(v).ok()?),
    };
    Some((items, next))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiLink {
    #[serde(default, rename = "type")]
    pub(crate) kind: Option<String>,
    // GitHub, `vercel`, `cursor-origin` (which names its owner `owner`)
    #[serde(default)]
    pub(crate) org: Option<String>,
    #[serde(default)]
    pub(crate) repo: Option<String>,
    /// A number for GitHub links, a string for `vercel`, `v0` and
    /// `cursor-origin` links (@vercel/sdk `GetProjectLink7.repoId: string`).
    #[serde(default)]
    pub(crate) repo_id: Option<NumberOrText>,
    // GitLab
    #[serde(default)]
    pub(crate) project_namespace: Option<String>,
    #[serde(default)]
    pub(crate) project_name: Option<String>,
    #[serde(default)]
    pub(crate) project_id: Option<Value>,
    // Bitbucket
    #[serde(default)]
    pub(crate) owner: Option<String>,
    #[serde(default)]
    pub(crate) slug: Option<String>,
    #[serde(default)]
    pub(crate) workspace_uuid: Option<String>,
    #[serde(default)]
    pub(crate) uuid: Option<String>,
    #[serde(default)]
    pub(crate) production_branch: Option<String>,
}

impl ApiLink {
    /// `owner/name` of the connected repository.
    pub(crate) fn repository(&self) -> Option<String> {
        match self.kind.as_deref() {
            Some("gitlab") => Some(format!(
                "{}/{}",
                self.project_namespace.as_deref()?,
                self.project_name.as_deref()?
            )),
            Some("bitbucket") => Some(format!(
                "{}/{}",
                self.owner.as_deref()?,
                self.slug.as_deref()?
            )),
            Some("cursor-origin") => Some(format!(
                "{}/{}",
                self.owner.as_deref()?,
                self.repo.as_deref()?
            )),
            _ => Some(format!(
                "{}/{}",
                self.org.as_deref()?,
                self.repo.as_deref()?
            )),
        }
    }

    /// The `gitSource` of a deployment from the project's link. Its `type` is
    /// the link's own: @vercel/sdk's create-deployment `gitSource` has separate
    /// `github`, `github-limited`, `cursor-origin`, `vercel`, `gitlab` and
    /// `bitbucket` variants.
    pub(crate) fn git_source(&self, git_ref: &str, sha: Option<&str>) -> Result<Value> {
        let mut source = match self.kind.as_deref() {
            None => self.github_source("github", git_ref)?,
            Some(kind @ ("github" | "github-limited")) => self.github_source(kind, git_ref)?,
            Some("cursor-origin") => {
                let repo_id = self.repo_id.as_ref().ok_or_else(|| {
                    Error::invalid_input(
                        "service",
                        "the project's Cursor link has no repository id",
                    )
                })?;
                json!({"type": "cursor-origin", "repoId": repo_id, "ref": git_ref})
            }
            // @vercel/sdk GitSource1 `{type: "vercel", sha}`: a commit, no ref.
            Some("vercel") => {
                let sha = sha.ok_or_else(|| {
                    Error::invalid_input(
                        "commit_sha",
                        "a Vercel-hosted repository deploys a commit: set commit_sha",
                    )
                })?;
                json!({"type": "vercel", "sha": sha})
            }
            Some("gitlab") => {
                let id = self.project_id.clone().ok_or_else(|| {
                    Error::invalid_input("service", "the project's GitLab link has no project id")
                })?;
                json!({"type": "gitlab", "projectId": id, "ref": git_ref})
            }
            Some("bitbucket") => {
                let repo_uuid = self.uuid.clone().ok_or_else(|| {
                    Error::invalid_input(
                        "service",
                        "the project's Bitbucket link has no repository uuid",
                    )
                })?;
                let mut v = json!({"type": "bitbucket", "repoUuid": repo_uuid, "ref": git_ref});
                if let Some(ws) = &self.workspace_uuid {
                    v["workspaceUuid"] = json!(ws);
                }
                v
            }
            Some(other) => {
                return Err(Error::invalid_input(
                    "service",
                    format!("deploying from a {other} repository is not supported"),
                ))
            }
        };
        if let Some(sha) = sha {
            source["sha"] = json!(sha);
        }
        Ok(source)
    }

    /// A GitHub `gitSource` (`kind` is `github` or `github-limited`): by
    /// repository id when the link has one, else by `org`/`repo`.
    fn github_source(&self, kind: &str, git_ref: &str) -> Result<Value> {
        if let Some(repo_id) = &self.repo_id {
            return Ok(json!({"type": kind, "repoId": repo_id, "ref": git_ref}));
        }
        let (Some(org), Some(repo)) = (&self.org, &self.repo) else {
            return Err(Error::invalid_input(
                "service",
                "the project's GitHub link has no repository",
            ));
        };
        Ok(json!({"type": kind, "org": org, "repo": repo, "ref": git_ref}))
    }
}

impl ApiProject {
    pub(crate) fn deserialize_from(raw: &Value) -> Result<ApiProject> {
        <ApiProject as serde::Deserialize>::deserialize(raw).map_err(|e| {
            Error::invalid_response(format!("unexpected project object from Vercel: {e}"))
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiProject {
    pub(crate) id: String,
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) framework: Option<String>,
    #[serde(default)]
    pub(crate) node_version: Option<String>,
    #[serde(default)]
    pub(crate) build_command: Option<String>,
    #[serde(default)]
    pub(crate) output_directory: Option<String>,
    /// Legacy: current schemas hold the region in `resourceConfig`.
    #[serde(default)]
    pub(crate) serverless_function_region: Option<String>,
    #[serde(default)]
    pub(crate) resource_config: Option<ApiResourceConfig>,
    #[serde(default)]
    pub(crate) created_at: Option<i64>,
    #[serde(default)]
    pub(crate) updated_at: Option<i64>,
    #[serde(default)]
    pub(crate) link: Option<ApiLink>,
    #[serde(default)]
    pub(crate) targets: Option<Value>,
}

/// `resourceConfig` of a project (@vercel/sdk 1.28 `GetProjectResourceConfig`,
/// where `functionDefaultRegions` is required).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiResourceConfig {
    #[serde(default)]
    pub(crate) function_default_regions: Vec<String>,
}

impl ApiProject {
    /// The functions' region: the first of `resourceConfig.functionDefaultRegions`,
    /// else the legacy `serverlessFunctionRegion` (older payloads).
    pub(crate) fn region(&self) -> Option<&str> {
        self.resource_config
            .as_ref()
            .and_then(|c| c.function_default_regions.first())
            .or(self.serverless_function_region.as_ref())
            .map(String::as_str)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiDeployment {
    /// `id` on get/create and in `latestDeployments`.
    #[serde(default)]
    pub(crate) id: Option<String>,
    /// `uid` on list items.
    #[serde(default)]
    pub(crate) uid: Option<String>,
    #[serde(default)]
    pub(crate) url: Option<String>,
    #[serde(default)]
    pub(crate) ready_state: Option<String>,
    /// List items carry `state` as well (same values).
    #[serde(default)]
    pub(crate) state: Option<String>,
    #[serde(default)]
    pub(crate) target: Option<String>,
    #[serde(default)]
    pub(crate) project_id: Option<String>,
    #[serde(default)]
    pub(crate) created_at: Option<i64>,
    #[serde(default)]
    pub(crate) created: Option<i64>,
    #[serde(default)]
    pub(crate) ready: Option<i64>,
    #[serde(default)]
    pub(crate) meta: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    pub(crate) git_source: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ApiVerification {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) domain: String,
    pub(crate) value: String,
    #[serde(default)]
    pub(crate) reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiProjectDomain {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) project_id: Option<String>,
    #[serde(default)]
    pub(crate) redirect: Option<String>,
    #[serde(default)]
    pub(crate) verified: Option<bool>,
    #[serde(default)]
    pub(crate) verification: Option<Vec<ApiVerification>>,
    #[serde(default)]
    pub(crate) created_at: Option<i64>,
    #[serde(default)]
    pub(crate) updated_at: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiAccountDomain {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) verified: Option<bool>,
    #[serde(default)]
    pub(crate) nameservers: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) custom_nameservers: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) created_at: Option<i64>,
    #[serde(default)]
    pub(crate) expires_at: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiRecord {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) value: String,
    #[serde(default)]
    pub(crate) mx_priority: Option<u16>,
    #[serde(default)]
    pub(crate) priority: Option<u16>,
    #[serde(default)]
    pub(crate) ttl: Option<u32>,
    #[serde(default)]
    pub(crate) created_at: Option<i64>,
    #[serde(default)]
    pub(crate) updated_at: Option<i64>,
}

/// `target` of an env var: one string or an array.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiEnv {
    #[serde(default)]
    pub(crate) id: Option<String>,
    pub(crate) key: String,
    #[serde(default)]
    pub(crate) value: Option<String>,
    #[serde(default, rename = "type")]
    pub(crate) kind: Option<String>,
    #[serde(default)]
    pub(crate) target: Option<OneOrMany>,
    #[serde(default)]
    pub(crate) git_branch: Option<String>,
    #[serde(default)]
    pub(crate) comment: Option<String>,
    #[serde(default)]
    pub(crate) created_at: Option<i64>,
    #[serde(default)]
    pub(crate) updated_at: Option<i64>,
}

// ---- request bodies -------------------------------------------------------

#[derive(Debug, Serialize)]
pub(crate) struct GitRepositoryBody<'a> {
    pub(crate) repo: &'a str,
    #[serde(rename = "type")]
    pub(crate) kind: &'a str,
}

/// One env var on the wire. `value` is exposed here only, while serialising.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EnvBody<'a> {
    pub(crate) key: &'a str,
    pub(crate) value: &'a str,
    #[serde(rename = "type")]
    pub(crate) kind: &'a str,
    pub(crate) target: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) git_branch: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) comment: Option<&'a str>,
}

/// `resourceConfig` in create and update bodies: only the region is set.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResourceConfigBody<'a> {
    pub(crate) function_default_regions: [&'a str; 1],
}

impl<'a> ResourceConfigBody<'a> {
    /// The body setting the functions' region, when one is asked for.
    pub(crate) fn region(region: Option<&'a str>) -> Option<Self> {
        region.map(|r| ResourceConfigBody {
            function_default_regions: [r],
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateProjectBody<'a> {
    pub(crate) name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) framework: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) git_repository: Option<GitRepositoryBody<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) build_command: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) dev_command: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) install_command: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) output_directory: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) root_directory: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) resource_config: Option<ResourceConfigBody<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) environment_variables: Vec<EnvBody<'a>>,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateProjectBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) framework: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) build_command: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) dev_command: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) install_command: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) output_directory: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) root_directory: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) node_version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) resource_config: Option<ResourceConfigBody<'a>>,
}

impl UpdateProjectBody<'_> {
    pub(crate) fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.framework.is_none()
            && self.build_command.is_none()
            && self.dev_command.is_none()
            && self.install_command.is_none()
            && self.output_directory.is_none()
            && self.root_directory.is_none()
            && self.node_version.is_none()
            && self.resource_config.is_none()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateDeploymentBody<'a> {
    pub(crate) name: &'a str,
    pub(crate) project: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) target: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) git_source: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) deployment_id: Option<&'a str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProjectDomainBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<&'a str>,
    /// `null` clears a redirect on update.
    pub(crate) redirect: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) redirect_status_code: Option<u16>,
    /// `null` clears the branch on update (@vercel/sdk
    /// `UpdateProjectDomainRequestBody.gitBranch: string | null`).
    pub(crate) git_branch: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub(crate) struct AddDomainBody<'a> {
    pub(crate) name: &'a str,
    pub(crate) method: &'a str,
}

#[derive(Debug, Serialize)]
pub(crate) struct SrvBody<'a> {
    pub(crate) priority: u16,
    pub(crate) weight: u16,
    pub(crate) port: u16,
    pub(crate) target: &'a str,
}

#[derive(Debug, Serialize)]
pub(crate) struct HttpsBody<'a> {
    pub(crate) priority: u16,
    pub(crate) target: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub(crate) params: &'a str,
}

/// Create and update bodies of a DNS record (update sends the same fields).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RecordBody<'a> {
    pub(crate) name: &'a str,
    #[serde(rename = "type")]
    pub(crate) kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) mx_priority: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) srv: Option<SrvBody<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) https: Option<HttpsBody<'a>>,
    pub(crate) ttl: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) comment: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_sources_by_provider() {
        let link: ApiLink = serde_json::from_value(json!({"type":"github","org":"acme","repo":"web","repoId":42,"productionBranch":"main"})).unwrap();
        assert_eq!(
            link.git_source("main", Some("abc1234")).unwrap(),
            json!({"type":"github","repoId":42,"ref":"main","sha":"abc1234"})
        );
        let link: ApiLink = serde_json::from_value(
            json!({"type":"github-limited","org":"acme","repo":"web","productionBranch":"main"}),
        )
        .unwrap();
        assert_eq!(
            link.git_source("main", None).unwrap(),
            json!({"type":"github-limited","org":"acme","repo":"web","ref":"main"})
        );
        let link: ApiLink = serde_json::from_value(
            json!({"type":"cursor-origin","owner":"acme","repo":"web","repoId":"crepo_17"}),
        )
        .unwrap();
        assert_eq!(
            link.git_source("main", None).unwrap(),
            json!({"type":"cursor-origin","repoId":"crepo_17","ref":"main"})
        );
        let link: ApiLink = serde_json::from_value(
            json!({"type":"vercel","org":"acme","repo":"web","repoId":"repo_9a"}),
        )
        .unwrap();
        assert_eq!(
            link.git_source("main", Some("abc1234")).unwrap(),
            json!({"type":"vercel","sha":"abc1234"})
        );
        assert!(
            link.git_source("main", None).is_err(),
            "a commit is required"
        );
        let link: ApiLink =
            serde_json::from_value(json!({"type":"gitlab","projectId":"77"})).unwrap();
        assert_eq!(
            link.git_source("dev", None).unwrap(),
            json!({"type":"gitlab","projectId":"77","ref":"dev"})
        );
    }
}
