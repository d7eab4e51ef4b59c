//! Active Directory's account rules for the LDAP pusher (`flavor = "active_directory"`): the
//! settings, sAMAccountName and userPrincipalName (sam.rs), userAccountControl arithmetic
//! (uac.rs), the generated first password (password.rs), and names that stay unique in an OU
//! (naming.rs). Pure; the pusher does the IO.

pub mod config;
pub mod naming;
pub mod password;
pub mod sam;
pub mod uac;

pub use config::{AdSettings, Flavor, NewAccounts, UpnFrom};
