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
];
