from tests.webhooks.harness import clock, receiver, runtime  # noqa: F401  (fixtures)
