"""HTTP boundary of central: routers, response schemas, typed dependencies and error mapping."""
