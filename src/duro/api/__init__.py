"""HTTP plumbing shared by every /v1 router: middleware, error rendering, the unit of work."""
