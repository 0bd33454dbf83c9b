//! The functions the local stack runs: one process each, on consecutive ports from
//! `FUNCTION_PORT_BASE`, in this order.

/// Each name is the binary's, its Knative Service's and its NGINX upstream's.
pub const ALL: &[&str] = &[
    "sign-up",
    "sign-in",
    "sign-out",
    "current-user",
    "create-ticket",
    "update-ticket",
    "list-tickets",
    "show-ticket",
    "hold-tickets",
    "release-tickets",
    "sell-tickets",
    "relay-tickets",
    "place-order",
    "cancel-order",
    "list-orders",
    "show-order",
    "replicate-ticket",
    "expire-order",
    "complete-order",
    "relay-orders",
    "arm-timer",
    "disarm-timer",
    "expire",
    "relay-expiration",
];
