//! Helpers of this crate's integration tests. The throwaway PowerDNS server
//! and the DNS client that checks what it serves are
//! `stackdock_testkit::powerdns`, shared with the runtime's tests.
// A test binary is a crate of its own: `pub` here is for the test files.
#![allow(unreachable_pub)]

pub mod faults;
