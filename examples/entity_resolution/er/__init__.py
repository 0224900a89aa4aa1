"""Entity resolution on FEBRL 4 with Shipyard: blocking, string-similarity features, several
matchers, a tuning study, and a governed path to production. See ../README.md."""
