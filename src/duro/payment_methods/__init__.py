"""Payment methods (03 §1.3): simulator methods attached by API in test mode, and which methods a customer can
be charged with."""
