"""The cwmn_web server: Starlette app, WebSocket relay, sites, storage and the CLI."""
