"""The console's pages, one module per page: login, customers, sources, dashboard."""
