"""Hosted checkout pages (06 §3-§4): `/checkout/{token}` (also embedded by the inline SDK), its no-JS form post,
its brand stylesheet, the static assets and `/js/inline.js`."""
