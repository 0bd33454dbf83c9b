pub mod auth;
pub mod checkin;
pub mod drop;
pub mod home;
pub mod orders;
pub mod passes;
pub mod queue;
pub mod tickets;
