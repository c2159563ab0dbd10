"""Identity: identifiers, the identity graph, merge rules, merges and splits with an audit trail."""
