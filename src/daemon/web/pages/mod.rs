//! One file per page of the console.

pub mod assets;
pub mod compare;
pub mod health;
pub mod login;
pub mod overview;
pub mod people;
pub mod plans;
pub mod runs;
