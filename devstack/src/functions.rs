//! The functions the local stack runs: one process each, on consecutive ports from
//! `FUNCTION_PORT_BASE`, in this order.

pub struct Function {
    /// The binary's name, which is also its Knative Service's and its NGINX upstream's name.
    pub name: &'static str,
}

pub const ALL: &[Function] = &[
    Function { name: "sign-up" },
    Function { name: "sign-in" },
    Function { name: "sign-out" },
    Function {
        name: "current-user",
    },
    Function {
        name: "create-ticket",
    },
    Function {
        name: "update-ticket",
    },
    Function {
        name: "list-tickets",
    },
    Function {
        name: "show-ticket",
    },
    Function {
        name: "hold-tickets",
    },
    Function {
        name: "release-tickets",
    },
    Function {
        name: "sell-tickets",
    },
    Function {
        name: "relay-tickets",
    },
    Function {
        name: "place-order",
    },
    Function {
        name: "cancel-order",
    },
    Function {
        name: "list-orders",
    },
    Function { name: "show-order" },
    Function {
        name: "replicate-ticket",
    },
    Function {
        name: "expire-order",
    },
    Function {
        name: "complete-order",
    },
    Function {
        name: "relay-orders",
    },
];
