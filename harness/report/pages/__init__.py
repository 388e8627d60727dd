"""Page builders of the static leaderboard: each turns the site's frames into a template context."""
