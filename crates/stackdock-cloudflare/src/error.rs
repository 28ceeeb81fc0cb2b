//! Cloudflare's error envelope `{"success": false, "errors": [{"code",
//! "message"}]}` mapped to StackDock errors, in one place.

use stackdock_http::ErrorCodes;

/// Records: 81044 does not exist, 81057 / 81058 (an identical record)
/// already exists; zones: 7003 no such object, 1061 already exists; the
/// token refused: 6003, 9109, 10000. Other 400s are `InvalidInput`.
pub const ERRORS: ErrorCodes = ErrorCodes {
    error: "/errors/0",
    not_found: &["81044", "7003"],
    already_exists: &["81057", "81058", "1061"],
    unauthenticated: &["6003", "9109", "10000"],
};
