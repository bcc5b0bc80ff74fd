"""The web page at `/`: static files shipped inside the package, no CDN, no build step."""
