"""The edge: WebSocket gateway for browsers, the small HTTP surface and the static page.
Holds no interview state: any edge node serves any session."""
