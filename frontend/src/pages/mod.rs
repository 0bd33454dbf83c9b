pub mod auth;
pub mod home;
pub mod orders;
pub mod tickets;
