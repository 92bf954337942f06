"""Full-text search over tickets: one port, two adapters (an embedded on-disk index, or
Elasticsearch), and the query language agents type, parsed once into a small AST."""
