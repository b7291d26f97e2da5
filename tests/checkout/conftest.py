from tests.portal.conftest import clean_identities, make_identity  # noqa: F401  (fixtures)
