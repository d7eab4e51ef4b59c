//! Black-box tests of the SCIM 2.0 target emulator over real HTTP/1.1 on loopback.

mod scim {
    pub mod client;

    mod auth_discovery;
    mod faults;
    mod groups;
    mod guard;
    mod list_filter;
    mod patch;
    mod robustness;
    mod users;
}
